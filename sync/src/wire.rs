//! The sync wire format: length-prefixed frames, each one [`Message`].
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of payload; the payload
//! is a one-byte tag and the message's fields. Integers are big-endian; strings and byte
//! strings are a 4-byte length and the bytes; lists are a 4-byte count and the items.
//!
//! **Invariant:** decoding never panics and never allocates more than the frame it was given:
//! every length is checked against the bytes that remain before anything is reserved, and a
//! frame whose declared length exceeds [`MAX_FRAME`] is refused before it is read.

use thiserror::Error;

/// The newest version of this protocol this build speaks, announced in `Hello`. Two peers
/// speak the lower of their two versions, so adjacent releases keep syncing while the hub
/// and the nodes are upgraded in any order.
pub const PROTOCOL_VERSION: u16 = 1;
/// The oldest version this build still speaks; a peer that only speaks older is refused
/// with a clear error (it must be upgraded first). Raise it only a release after
/// `PROTOCOL_VERSION`, so every adjacent pair of releases shares a version.
pub const MIN_PROTOCOL_VERSION: u16 = 1;
/// The largest frame either side accepts (32 MiB). Senders keep batches far below it.
pub const MAX_FRAME: usize = 32 * 1024 * 1024;
/// The longest document id accepted on the wire.
pub const MAX_DOC_ID: usize = 200;
/// The longest free-text field (error text, enrolment code) accepted on the wire.
const MAX_TEXT: usize = 64 * 1024;

/// A change hash (SHA-256 of an Automerge change).
pub type Hash = [u8; 32];

/// Why a document in a batch, or a request, was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The peer may not write (or read) this document.
    NotPermitted,
    /// A change did not decode or did not apply.
    BadChange,
    /// Changes arrived whose dependencies the receiver lacks; it asks again with its heads.
    MissingDependencies,
    /// The receiver could not store it just now (disk full, damaged document); try later.
    Unavailable,
}

impl Refusal {
    fn code(self) -> u8 {
        match self {
            Refusal::NotPermitted => 1,
            Refusal::BadChange => 2,
            Refusal::MissingDependencies => 3,
            Refusal::Unavailable => 4,
        }
    }

    fn from_code(code: u8) -> Result<Self, DecodeError> {
        Ok(match code {
            1 => Refusal::NotPermitted,
            2 => Refusal::BadChange,
            3 => Refusal::MissingDependencies,
            4 => Refusal::Unavailable,
            other => return Err(DecodeError::UnknownValue("refusal", other)),
        })
    }

    /// Words for a status page.
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::NotPermitted => "not permitted for this clinic",
            Refusal::BadChange => "the change was damaged",
            Refusal::MissingDependencies => "earlier changes were missing",
            Refusal::Unavailable => "the other side could not store it",
        }
    }
}

/// The changes of one document that the receiver lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocDelta {
    pub doc: String,
    /// Automerge changes, each as `Change::raw_bytes`, in an order that respects dependencies.
    pub changes: Vec<Vec<u8>>,
}

/// One refused document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub doc: String,
    pub reason: Refusal,
}

/// Everything that can be said on a sync connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// First message on a sync session, both ways: who I am.
    Hello { version: u16, node: [u8; 16] },
    /// Second message, both ways: "I have durably applied your change feed up to `from`;
    /// send me what came after".
    Start { from: u64 },
    /// Deltas of some documents. When `upto` is set, the sender's change feed up to `upto` is
    /// complete with this batch: the receiver persists it as its resume point once applied.
    Batch {
        seq: u64,
        upto: Option<u64>,
        docs: Vec<DocDelta>,
    },
    /// The batch `seq` is durably applied, except the refused documents.
    Ack { seq: u64, refused: Vec<Refused> },
    /// "Send me the changes of `doc` not covered by these heads" (after missing dependencies).
    Request { doc: String, have: Vec<Hash> },
    /// A request that is refused.
    Denied { doc: String, reason: Refusal },
    /// Enrolment: a one-time code, the node's public key (SubjectPublicKeyInfo DER), its
    /// store id, and the clinic it already holds (none for a replacement node restoring one).
    Enrol {
        code: String,
        public_key: Vec<u8>,
        node: [u8; 16],
        clinic: Option<[u8; 16]>,
    },
    /// Enrolment answer: the node's certificate and the CA to pin.
    Enrolled {
        clinic: [u8; 16],
        node: [u8; 16],
        cert_pem: String,
        ca_pem: String,
    },
    /// The sender has completed its round and received the peer's (one-shot sessions): it
    /// will send nothing more, and closes once the peer says the same.
    Bye,
    /// The sender closes the session for this reason.
    Error { code: ErrorCode, text: String },
}

/// Why a session was closed, as sent to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The peer sent something that does not decode or breaks the protocol.
    Protocol,
    /// The peer speaks another protocol version.
    Version,
    /// The peer is not allowed (no certificate, revoked, code invalid or used).
    Forbidden,
    /// The sender had an internal failure (storage); retry later.
    Internal,
}

impl ErrorCode {
    fn code(self) -> u8 {
        match self {
            ErrorCode::Protocol => 1,
            ErrorCode::Version => 2,
            ErrorCode::Forbidden => 3,
            ErrorCode::Internal => 4,
        }
    }

    fn from_code(code: u8) -> Result<Self, DecodeError> {
        Ok(match code {
            1 => ErrorCode::Protocol,
            2 => ErrorCode::Version,
            3 => ErrorCode::Forbidden,
            4 => ErrorCode::Internal,
            other => return Err(DecodeError::UnknownValue("error code", other)),
        })
    }
}

/// A frame that does not decode. Each names what was wrong.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the message ended early, reading {0}")]
    Truncated(&'static str),
    #[error("{0} bytes follow the end of the message")]
    Trailing(usize),
    #[error("unknown message type {0}")]
    UnknownTag(u8),
    #[error("unknown {0} value {1}")]
    UnknownValue(&'static str, u8),
    #[error("{what} is {len} bytes, more than the {max} allowed")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{0} is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("document id {0:?} is not a valid document id")]
    BadDocId(String),
    #[error("an empty frame")]
    Empty,
}

const T_HELLO: u8 = 1;
const T_START: u8 = 2;
const T_BATCH: u8 = 3;
const T_ACK: u8 = 4;
const T_REQUEST: u8 = 5;
const T_DENIED: u8 = 6;
const T_ENROL: u8 = 7;
const T_ENROLLED: u8 = 8;
const T_ERROR: u8 = 9;
const T_BYE: u8 = 10;

impl Message {
    /// The payload of this message (without the frame length).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Message::Hello { version, node } => {
                w.u8(T_HELLO);
                w.u16(*version);
                w.raw(node);
            }
            Message::Start { from } => {
                w.u8(T_START);
                w.u64(*from);
            }
            Message::Batch { seq, upto, docs } => {
                w.u8(T_BATCH);
                w.u64(*seq);
                match upto {
                    Some(u) => {
                        w.u8(1);
                        w.u64(*u);
                    }
                    None => w.u8(0),
                }
                w.len(docs.len());
                for d in docs {
                    w.bytes(d.doc.as_bytes());
                    w.len(d.changes.len());
                    for c in &d.changes {
                        w.bytes(c);
                    }
                }
            }
            Message::Ack { seq, refused } => {
                w.u8(T_ACK);
                w.u64(*seq);
                w.len(refused.len());
                for r in refused {
                    w.bytes(r.doc.as_bytes());
                    w.u8(r.reason.code());
                }
            }
            Message::Request { doc, have } => {
                w.u8(T_REQUEST);
                w.bytes(doc.as_bytes());
                w.len(have.len());
                for h in have {
                    w.raw(h);
                }
            }
            Message::Denied { doc, reason } => {
                w.u8(T_DENIED);
                w.bytes(doc.as_bytes());
                w.u8(reason.code());
            }
            Message::Enrol {
                code,
                public_key,
                node,
                clinic,
            } => {
                w.u8(T_ENROL);
                w.bytes(code.as_bytes());
                w.bytes(public_key);
                w.raw(node);
                match clinic {
                    Some(c) => {
                        w.u8(1);
                        w.raw(c);
                    }
                    None => w.u8(0),
                }
            }
            Message::Enrolled {
                clinic,
                node,
                cert_pem,
                ca_pem,
            } => {
                w.u8(T_ENROLLED);
                w.raw(clinic);
                w.raw(node);
                w.bytes(cert_pem.as_bytes());
                w.bytes(ca_pem.as_bytes());
            }
            Message::Bye => w.u8(T_BYE),
            Message::Error { code, text } => {
                w.u8(T_ERROR);
                w.u8(code.code());
                w.bytes(text.as_bytes());
            }
        }
        w.0
    }

    /// Decodes one payload. Never panics; see the module's invariant.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(payload);
        let tag = r.u8("message type").map_err(|_| DecodeError::Empty)?;
        let msg = match tag {
            T_HELLO => Message::Hello {
                version: r.u16("version")?,
                node: r.array("node id")?,
            },
            T_START => Message::Start {
                from: r.u64("resume point")?,
            },
            T_BATCH => {
                let seq = r.u64("batch number")?;
                let upto = match r.u8("batch end flag")? {
                    0 => None,
                    1 => Some(r.u64("batch end")?),
                    other => return Err(DecodeError::UnknownValue("batch end flag", other)),
                };
                // Each doc takes at least 8 bytes (two lengths), each change at least 4.
                let n = r.count("documents", 8)?;
                let mut docs = Vec::with_capacity(n);
                for _ in 0..n {
                    let doc = r.doc_id()?;
                    let k = r.count("changes", 4)?;
                    let mut changes = Vec::with_capacity(k);
                    for _ in 0..k {
                        changes.push(r.bytes("change", MAX_FRAME)?.to_vec());
                    }
                    docs.push(DocDelta { doc, changes });
                }
                Message::Batch { seq, upto, docs }
            }
            T_ACK => {
                let seq = r.u64("batch number")?;
                let n = r.count("refusals", 5)?;
                let mut refused = Vec::with_capacity(n);
                for _ in 0..n {
                    let doc = r.doc_id()?;
                    let reason = Refusal::from_code(r.u8("refusal")?)?;
                    refused.push(Refused { doc, reason });
                }
                Message::Ack { seq, refused }
            }
            T_REQUEST => {
                let doc = r.doc_id()?;
                let n = r.count("heads", 32)?;
                let mut have = Vec::with_capacity(n);
                for _ in 0..n {
                    have.push(r.array("head")?);
                }
                Message::Request { doc, have }
            }
            T_DENIED => Message::Denied {
                doc: r.doc_id()?,
                reason: Refusal::from_code(r.u8("refusal")?)?,
            },
            T_ENROL => Message::Enrol {
                code: r.text("enrolment code")?,
                public_key: r.bytes("public key", MAX_TEXT)?.to_vec(),
                node: r.array("node id")?,
                clinic: match r.u8("clinic flag")? {
                    0 => None,
                    1 => Some(r.array("clinic id")?),
                    other => return Err(DecodeError::UnknownValue("clinic flag", other)),
                },
            },
            T_ENROLLED => Message::Enrolled {
                clinic: r.array("clinic id")?,
                node: r.array("node id")?,
                cert_pem: r.text("certificate")?,
                ca_pem: r.text("CA certificate")?,
            },
            T_ERROR => Message::Error {
                code: ErrorCode::from_code(r.u8("error code")?)?,
                text: r.text("error text")?,
            },
            T_BYE => Message::Bye,
            other => return Err(DecodeError::UnknownTag(other)),
        };
        if !r.0.is_empty() {
            return Err(DecodeError::Trailing(r.0.len()));
        }
        Ok(msg)
    }

    /// The whole frame: length prefix and payload.
    pub fn to_frame(&self) -> Vec<u8> {
        let payload = self.encode();
        let mut frame = Vec::with_capacity(4 + payload.len());
        frame.extend_from_slice(
            &u32::try_from(payload.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        frame.extend_from_slice(&payload);
        frame
    }
}

/// A document id as the wire accepts it: 1..=200 printable ASCII characters without spaces.
/// (The receiving store applies its own, stricter, parse.)
pub fn valid_doc_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_DOC_ID && id.bytes().all(|b| b.is_ascii_graphic())
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn len(&mut self, n: usize) {
        self.0
            .extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
    }
    fn raw(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.raw(b);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    /// A list count, checked against the bytes left (each item takes at least `min_item`).
    fn count(&mut self, what: &'static str, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_item) > self.0.len() {
            return Err(DecodeError::Truncated(what));
        }
        Ok(n)
    }
    fn bytes(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        if len > max {
            return Err(DecodeError::TooLong { what, len, max });
        }
        self.take(len, what)
    }
    fn text(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let b = self.bytes(what, MAX_TEXT)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::NotUtf8(what))
    }
    fn doc_id(&mut self) -> Result<String, DecodeError> {
        let b = self.bytes("document id", MAX_DOC_ID)?;
        let s = std::str::from_utf8(b).map_err(|_| DecodeError::NotUtf8("document id"))?;
        if !valid_doc_id(s) {
            return Err(DecodeError::BadDocId(s.escape_default().to_string()));
        }
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn samples() -> Vec<Message> {
        vec![
            Message::Hello {
                version: PROTOCOL_VERSION,
                node: [7; 16],
            },
            Message::Start { from: 42 },
            Message::Batch {
                seq: 3,
                upto: Some(99),
                docs: vec![
                    DocDelta {
                        doc: "clinic/abc".into(),
                        changes: vec![vec![1, 2, 3], vec![]],
                    },
                    DocDelta {
                        doc: "panel/x/y".into(),
                        changes: vec![],
                    },
                ],
            },
            Message::Batch {
                seq: 4,
                upto: None,
                docs: vec![],
            },
            Message::Ack {
                seq: 3,
                refused: vec![Refused {
                    doc: "clinic/other".into(),
                    reason: Refusal::NotPermitted,
                }],
            },
            Message::Request {
                doc: "account/u".into(),
                have: vec![[1; 32], [2; 32]],
            },
            Message::Denied {
                doc: "clinic/b".into(),
                reason: Refusal::NotPermitted,
            },
            Message::Enrol {
                code: "ABCD-EFGH".into(),
                public_key: vec![9; 91],
                node: [4; 16],
                clinic: Some([5; 16]),
            },
            Message::Enrol {
                code: "X".into(),
                public_key: vec![],
                node: [4; 16],
                clinic: None,
            },
            Message::Enrolled {
                clinic: [1; 16],
                node: [2; 16],
                cert_pem: "-----BEGIN".into(),
                ca_pem: "x".into(),
            },
            Message::Error {
                code: ErrorCode::Forbidden,
                text: "revoked".into(),
            },
            Message::Bye,
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            assert_eq!(Message::decode(&m.encode()), Ok(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for m in samples() {
            let bytes = m.encode();
            for cut in 0..bytes.len() {
                assert!(
                    Message::decode(&bytes[..cut]).is_err(),
                    "{m:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn trailing_bytes_and_unknown_tags_are_refused() {
        let mut bytes = Message::Start { from: 1 }.encode();
        bytes.push(0);
        assert_eq!(Message::decode(&bytes), Err(DecodeError::Trailing(1)));
        assert_eq!(Message::decode(&[200]), Err(DecodeError::UnknownTag(200)));
        assert_eq!(Message::decode(&[]), Err(DecodeError::Empty));
    }

    #[test]
    fn a_huge_declared_count_is_refused_without_allocating() {
        // A batch claiming 4 billion documents in a 20-byte frame.
        let mut bytes = vec![T_BATCH];
        bytes.extend_from_slice(&1u64.to_be_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            Message::decode(&bytes),
            Err(DecodeError::Truncated("documents"))
        );
        // A change claiming 4 GiB.
        let mut bytes = vec![T_BATCH];
        bytes.extend_from_slice(&1u64.to_be_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(&3u32.to_be_bytes());
        bytes.extend_from_slice(b"c/x");
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Message::decode(&bytes),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn bad_document_ids_are_refused() {
        for bad in ["", "a b", "x\0y", "tab\there"] {
            let m = Message::Request {
                doc: bad.into(),
                have: vec![],
            };
            assert!(
                matches!(Message::decode(&m.encode()), Err(DecodeError::BadDocId(_))),
                "{bad:?}"
            );
        }
        let long = "d".repeat(MAX_DOC_ID + 1);
        let m = Message::Denied {
            doc: long,
            reason: Refusal::BadChange,
        };
        assert!(matches!(
            Message::decode(&m.encode()),
            Err(DecodeError::TooLong { .. })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(m) = Message::decode(&bytes) {
                prop_assert_eq!(m.encode(), bytes);
            }
        }

        #[test]
        fn mutated_messages_never_panic(idx in 0usize..10, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let all = samples();
            let mut bytes = all[idx % all.len()].encode();
            for (at, v) in flips {
                let n = bytes.len();
                bytes[at % n] = v;
            }
            if let Ok(m) = Message::decode(&bytes) {
                prop_assert_eq!(m.encode(), bytes);
            }
        }
    }
}
