//! The hub's certificate authority and the identities it hands out.
//!
//! Every peer is named by one SAN URI in its certificate: `urn:attach:hub` for the hub,
//! `urn:attach:node:<clinic-uuid>:<node-uuid>` for a clinic node. The hub keeps a CA (ECDSA
//! P-256) that signs both kinds; nodes generate their own key and send only the public key
//! when they enrol, so private keys never leave the machine that made them.
//!
//! Invariant: this module does no network I/O; it only touches the disk in
//! [`Credentials::save`] and [`Credentials::load`].

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType, SerialNumber,
};
use rustls::crypto::ring::kx_group::SECP256R1;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, DnsName};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use x509_parser::extensions::GeneralName;

/// SAN URI of the provincial hub.
pub const HUB_URI: &str = "urn:attach:hub";
/// Prefix of every Attach identity URI.
const URI_PREFIX: &str = "urn:attach:";
/// Prefix of a clinic node's identity URI; `<clinic>:<node>` follows.
const NODE_URI_PREFIX: &str = "urn:attach:node:";

/// How long the hub's CA is valid.
const CA_VALIDITY: Duration = Duration::days(20 * 365 + 5);
/// How long the hub's own TLS certificate is valid.
const HUB_LEAF_VALIDITY: Duration = Duration::days(2 * 365 + 1);
/// Certificates start this long in the past so a peer whose clock is a little behind accepts them.
const CLOCK_SKEW: Duration = Duration::minutes(10);

/// Errors of the certificate authority and of identity files.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Key or certificate generation failed inside rcgen.
    #[error("could not create a key or certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A certificate is not valid DER/PEM X.509.
    #[error("the {what} certificate could not be read: {reason}")]
    BadCertificate {
        /// Which certificate (for the message).
        what: &'static str,
        /// What the parser said.
        reason: String,
    },
    /// The certificate carries no `urn:attach:` SAN URI.
    #[error(
        "the certificate has no Attach identity: expected a SAN URI `urn:attach:hub` or \
         `urn:attach:node:<clinic-uuid>:<node-uuid>`"
    )]
    NoRole,
    /// The certificate carries more than one `urn:attach:` SAN URI.
    #[error("the certificate carries {0} Attach identities; exactly one is allowed")]
    AmbiguousRole(usize),
    /// An `urn:attach:` URI that is neither the hub nor a well-formed node.
    #[error(
        "unrecognised Attach identity {0:?}: expected `urn:attach:hub` or \
         `urn:attach:node:<clinic-uuid>:<node-uuid>`"
    )]
    UnknownRole(String),
    /// The CA certificate does not have `CA:TRUE` basic constraints.
    #[error(
        "the CA certificate is not a certificate authority (basic constraints CA:TRUE missing)"
    )]
    NotCa,
    /// A private key does not belong to the certificate it is stored with.
    #[error("the private key does not belong to the {what} certificate; the files are mismatched")]
    KeyMismatch {
        /// Which certificate.
        what: &'static str,
    },
    /// A private key could not be read or is not ECDSA P-256.
    #[error("the private key could not be used: {0}")]
    BadKey(String),
    /// A node sent a public key that is not a valid ECDSA P-256 SubjectPublicKeyInfo.
    #[error("the node's public key is not a valid ECDSA P-256 SubjectPublicKeyInfo (DER): {0}")]
    BadPublicKey(String),
    /// A hub name is neither an IP address nor a DNS name.
    #[error("hub name {0:?} is neither an IP address nor a valid DNS name")]
    InvalidName(String),
    /// A validity period that is zero or negative.
    #[error("a certificate must be valid for a positive time, not {0}")]
    InvalidValidity(Duration),
    /// Reading or writing an identity file failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("write", "read", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Some but not all identity files are present.
    #[error(
        "{} holds an incomplete identity: {missing} is missing; restore it from backup or enrol again",
        dir.display()
    )]
    Incomplete {
        /// The identity directory.
        dir: PathBuf,
        /// The missing file name.
        missing: &'static str,
    },
    /// An enrolment code of the wrong length.
    #[error(
        "an enrolment code has 32 letters and digits (dashes and spaces are ignored), \
         this one has {found}; check it was copied whole"
    )]
    CodeLength {
        /// How many code characters were found.
        found: usize,
    },
    /// An enrolment code with a character outside the alphabet.
    #[error(
        "enrolment code character {position} ({character:?}) is not valid: codes use digits and \
         letters except U (I, L and O are read as 1, 1 and 0)"
    )]
    CodeCharacter {
        /// The offending character.
        character: char,
        /// Its 1-based position in the text as typed.
        position: usize,
    },
}

impl PkiError {
    fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Who is on the other end, as named by its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerRole {
    /// The provincial hub.
    Hub,
    /// A clinic node.
    Node {
        /// The clinic the node belongs to.
        clinic: Uuid,
        /// The node's store id.
        node: Uuid,
    },
}

impl PeerRole {
    /// The SAN URI that names this role in a certificate.
    pub fn uri(&self) -> String {
        match self {
            Self::Hub => HUB_URI.to_owned(),
            Self::Node { clinic, node } => format!("{NODE_URI_PREFIX}{clinic}:{node}"),
        }
    }

    /// Parses an `urn:attach:` URI.
    pub fn from_uri(uri: &str) -> Result<Self, PkiError> {
        if uri == HUB_URI {
            return Ok(Self::Hub);
        }
        let unknown = || PkiError::UnknownRole(uri.to_owned());
        let rest = uri.strip_prefix(NODE_URI_PREFIX).ok_or_else(unknown)?;
        let (clinic, node) = rest.split_once(':').ok_or_else(unknown)?;
        // Only the canonical hyphenated form, so one identity has one spelling.
        let parse = |s: &str| {
            Uuid::try_parse(s)
                .ok()
                .filter(|u| u.hyphenated().to_string() == s.to_ascii_lowercase())
        };
        match (parse(clinic), parse(node)) {
            (Some(clinic), Some(node)) => Ok(Self::Node { clinic, node }),
            _ => Err(unknown()),
        }
    }
}

impl fmt::Display for PeerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

/// Reads the Attach identity from a DER certificate: exactly one `urn:attach:` SAN URI.
pub fn role_of(cert_der: &[u8]) -> Result<PeerRole, PkiError> {
    let bad = |reason: String| PkiError::BadCertificate {
        what: "peer",
        reason,
    };
    let (rest, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|e| bad(e.to_string()))?;
    if !rest.is_empty() {
        return Err(bad("trailing bytes after the certificate".to_owned()));
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|e| bad(e.to_string()))?
        .ok_or(PkiError::NoRole)?;
    let uris: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) if uri.starts_with(URI_PREFIX) => Some(*uri),
            _ => None,
        })
        .collect();
    match uris.as_slice() {
        [] => Err(PkiError::NoRole),
        [uri] => PeerRole::from_uri(uri),
        more => Err(PkiError::AmbiguousRole(more.len())),
    }
}

/// SHA-256 of a DER blob (a certificate's fingerprint).
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // Positive and of full length, as RFC 5280 asks.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn pem_to_der(pem: &str, what: &'static str) -> Result<Vec<u8>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|e| PkiError::BadCertificate {
            what,
            reason: e.to_string(),
        })
}

fn load_p256_key(pem: &str) -> Result<KeyPair, PkiError> {
    let key = KeyPair::from_pem(pem).map_err(|e| PkiError::BadKey(e.to_string()))?;
    if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
        return Err(PkiError::BadKey(
            "Attach uses ECDSA P-256 keys only".to_owned(),
        ));
    }
    Ok(key)
}

/// Checks that `key` is the private half of the public key in `cert_der`.
fn check_key_matches(
    cert_der: &[u8],
    key: &impl PublicKeyData,
    what: &'static str,
) -> Result<(), PkiError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|e| PkiError::BadCertificate {
            what,
            reason: e.to_string(),
        })?;
    if cert.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(PkiError::KeyMismatch { what });
    }
    Ok(())
}

/// The hub's certificate authority: its self-signed certificate and private key.
pub struct HubCa {
    cert_pem: String,
    cert_der: Vec<u8>,
    not_after: OffsetDateTime,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for HubCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubCa")
            .field("fingerprint", &hex::encode(self.fingerprint()))
            .field("not_after", &self.not_after)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl HubCa {
    /// Creates a new CA: ECDSA P-256, valid 20 years, may sign leaf certificates only.
    pub fn generate(common_name: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        // No intermediates: the CA signs leaves directly.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            not_after: params.not_after,
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA saved with [`HubCa::cert_pem`] and [`HubCa::key_pem`]; checks that the
    /// certificate is a CA and that the key belongs to it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert_der = pem_to_der(cert_pem, "CA")?;
        let bad = |reason: String| PkiError::BadCertificate { what: "CA", reason };
        let (_, cert) =
            x509_parser::parse_x509_certificate(&cert_der).map_err(|e| bad(e.to_string()))?;
        let is_ca = cert
            .basic_constraints()
            .map_err(|e| bad(e.to_string()))?
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(PkiError::NotCa);
        }
        let not_after = cert.validity().not_after.to_datetime();
        let key = load_p256_key(key_pem)?;
        check_key_matches(&cert_der, &key, "CA")?;
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(cert_der.as_slice()), key)?;
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            cert_der,
            not_after,
            issuer,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The CA private key, PKCS#8 PEM. Keep it secret.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// SHA-256 of the CA certificate (DER); enrolment codes pin its first 10 bytes.
    pub fn fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.cert_der)
    }

    /// Issues the hub's own TLS identity: a fresh key and a leaf with SAN `urn:attach:hub`
    /// plus each of `names` as a DNS name or IP address, valid 2 years, serverAuth.
    pub fn issue_hub(&self, names: &[String]) -> Result<Credentials, PkiError> {
        let mut sans = vec![SanType::URI(HUB_URI.try_into()?)];
        for name in names {
            let san = match IpAddr::from_str(name) {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => {
                    DnsName::try_from(name.as_str())
                        .map_err(|_| PkiError::InvalidName(name.clone()))?;
                    SanType::DnsName(
                        name.as_str()
                            .try_into()
                            .map_err(|_| PkiError::InvalidName(name.clone()))?,
                    )
                }
            };
            sans.push(san);
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert_pem = self.issue_leaf(
            &key,
            "Attach hub",
            sans,
            vec![ExtendedKeyUsagePurpose::ServerAuth],
            HUB_LEAF_VALIDITY,
        )?;
        Ok(Credentials {
            ca_pem: self.cert_pem(),
            cert_pem,
            key_pem: key.serialize_pem(),
        })
    }

    /// Signs a clinic node's public key (SubjectPublicKeyInfo, DER): a leaf with SAN
    /// `urn:attach:node:<clinic>:<node>`, clientAuth and serverAuth (nodes also serve LAN
    /// peers), a random serial, valid for `valid_for` (capped at the CA's own expiry).
    /// Returns the certificate as PEM.
    pub fn issue_node(
        &self,
        public_key_der: &[u8],
        clinic: Uuid,
        node: Uuid,
        valid_for: Duration,
    ) -> Result<String, PkiError> {
        let spki = parse_node_public_key(public_key_der)?;
        let role = PeerRole::Node { clinic, node };
        self.issue_leaf(
            &spki,
            &format!("Attach node {node}"),
            vec![SanType::URI(role.uri().try_into()?)],
            vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ],
            valid_for,
        )
    }

    fn issue_leaf(
        &self,
        public_key: &impl PublicKeyData,
        common_name: &str,
        sans: Vec<SanType>,
        ekus: Vec<ExtendedKeyUsagePurpose>,
        valid_for: Duration,
    ) -> Result<String, PkiError> {
        if valid_for <= Duration::ZERO {
            return Err(PkiError::InvalidValidity(valid_for));
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = ekus;
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        let now = OffsetDateTime::now_utc();
        params.not_before = now - CLOCK_SKEW;
        params.not_after = (now + valid_for).min(self.not_after);
        let cert = params.signed_by(public_key, &self.issuer)?;
        Ok(cert.pem())
    }
}

/// Parses and checks a node's public key: ECDSA P-256 SPKI whose point is on the curve.
fn parse_node_public_key(der: &[u8]) -> Result<rcgen::SubjectPublicKeyInfo, PkiError> {
    let spki = rcgen::SubjectPublicKeyInfo::from_der(der)
        .map_err(|e| PkiError::BadPublicKey(e.to_string()))?;
    if spki.algorithm() != &PKCS_ECDSA_P256_SHA256 {
        return Err(PkiError::BadPublicKey(
            "the key is not ECDSA P-256".to_owned(),
        ));
    }
    // An ECDH against the point makes ring validate that it lies on the curve.
    let exchange = SECP256R1
        .start()
        .map_err(|e| PkiError::BadPublicKey(e.to_string()))?;
    exchange
        .complete(spki.der_bytes())
        .map_err(|_| PkiError::BadPublicKey("the point is not on the P-256 curve".to_owned()))?;
    Ok(spki)
}

/// A node's own key pair (ECDSA P-256), made on the node; only the public half leaves it.
pub struct NodeKey {
    key: KeyPair,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field(
                "public_key",
                &hex::encode(fingerprint(&self.public_key_der())),
            )
            .field("key", &"<redacted>")
            .finish()
    }
}

impl NodeKey {
    /// Generates a fresh ECDSA P-256 key pair.
    pub fn generate() -> Result<Self, PkiError> {
        Ok(Self {
            key: KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
        })
    }

    /// Loads a key saved with [`NodeKey::key_pem`].
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        Ok(Self {
            key: load_p256_key(pem)?,
        })
    }

    /// The public key as SubjectPublicKeyInfo DER, to send to the hub for signing.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }

    /// The private key, PKCS#8 PEM. Keep it secret.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}

const CA_FILE: &str = "ca.pem";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";

/// A peer's whole identity: the CA it trusts, its certificate and its private key (all PEM).
#[derive(Clone)]
pub struct Credentials {
    /// The hub CA certificate, PEM.
    pub ca_pem: String,
    /// This peer's certificate, PEM.
    pub cert_pem: String,
    /// This peer's private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("ca_pem", &self.ca_pem)
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// The Attach identity in this peer's certificate.
    pub fn role(&self) -> Result<PeerRole, PkiError> {
        role_of(&self.cert_der()?)
    }

    /// This peer's certificate, DER.
    pub fn cert_der(&self) -> Result<Vec<u8>, PkiError> {
        pem_to_der(&self.cert_pem, "own")
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> Result<Vec<u8>, PkiError> {
        pem_to_der(&self.ca_pem, "CA")
    }

    /// Checks that the files belong together: the certificates parse, the certificate names
    /// an Attach identity and the key is the certificate's.
    pub fn check(&self) -> Result<PeerRole, PkiError> {
        self.ca_der()?;
        let cert = self.cert_der()?;
        let role = role_of(&cert)?;
        let key = load_p256_key(&self.key_pem)?;
        check_key_matches(&cert, &key, "own")?;
        Ok(role)
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir` (created if needed), each
    /// atomically (temporary file, fsync, rename, fsync of the directory); the key is
    /// readable by its owner only.
    pub fn save(&self, dir: &Path) -> Result<(), PkiError> {
        fs::create_dir_all(dir).map_err(|e| PkiError::io("create", dir, e))?;
        write_atomic(dir, CA_FILE, self.ca_pem.as_bytes(), false)?;
        write_atomic(dir, CERT_FILE, self.cert_pem.as_bytes(), false)?;
        write_atomic(dir, KEY_FILE, self.key_pem.as_bytes(), true)?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| PkiError::io("sync", dir, e))
    }

    /// Reads an identity saved by [`Credentials::save`]; `None` when `dir` holds none.
    /// A partial identity is an error, and so is one whose files do not belong together.
    pub fn load(dir: &Path) -> Result<Option<Self>, PkiError> {
        let read = |name: &'static str| -> Result<Option<String>, PkiError> {
            let path = dir.join(name);
            match fs::read_to_string(&path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(PkiError::io("read", &path, e)),
            }
        };
        let files = (read(CA_FILE)?, read(CERT_FILE)?, read(KEY_FILE)?);
        let creds = match files {
            (None, None, None) => return Ok(None),
            (Some(ca_pem), Some(cert_pem), Some(key_pem)) => Self {
                ca_pem,
                cert_pem,
                key_pem,
            },
            (ca, cert, _) => {
                let missing = if ca.is_none() {
                    CA_FILE
                } else if cert.is_none() {
                    CERT_FILE
                } else {
                    KEY_FILE
                };
                return Err(PkiError::Incomplete {
                    dir: dir.to_path_buf(),
                    missing,
                });
            }
        };
        creds.check()?;
        Ok(Some(creds))
    }
}

fn write_atomic(dir: &Path, name: &str, contents: &[u8], secret: bool) -> Result<(), PkiError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(PkiError::io("remove", &tmp, e)),
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options
        .open(&tmp)
        .map_err(|e| PkiError::io("create", &tmp, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| PkiError::io("write", &tmp, e))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(|e| PkiError::io("replace", &path, e))
}

/// Crockford base32 alphabet (no I, L, O, U).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in an enrolment code (20 bytes, 5 bits each).
const CODE_CHARS: usize = 32;

/// A one-time enrolment code: a random secret the hub checks, and the first 10 bytes of the
/// hub CA's SHA-256 fingerprint, which the enrolling node pins.
///
/// Shown as 32 Crockford base32 characters in groups of four, e.g. `7K2M-…`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EnrolmentCode {
    /// The one-time secret.
    pub secret: [u8; 10],
    /// The first 10 bytes of the CA certificate's SHA-256.
    pub ca_pin: [u8; 10],
}

impl fmt::Debug for EnrolmentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrolmentCode")
            .field("secret", &"<redacted>")
            .field("ca_pin", &hex::encode(self.ca_pin))
            .finish()
    }
}

impl EnrolmentCode {
    /// A fresh code for `ca`: a random secret and the CA's pin.
    pub fn new_for(ca: &HubCa) -> Self {
        let mut secret = [0u8; 10];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let mut ca_pin = [0u8; 10];
        ca_pin.copy_from_slice(&ca.fingerprint()[..10]);
        Self { secret, ca_pin }
    }

    /// Whether the CA certificate `ca_der` is the one this code pins.
    pub fn pin_matches(&self, ca_der: &[u8]) -> bool {
        fingerprint(ca_der)[..10] == self.ca_pin
    }

    fn bytes(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..10].copy_from_slice(&self.secret);
        out[10..].copy_from_slice(&self.ca_pin);
        out
    }
}

impl fmt::Display for EnrolmentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.bytes();
        let mut acc: u32 = 0;
        let mut bits = 0;
        let mut written = 0;
        for byte in bytes {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                if written > 0 && written % 4 == 0 {
                    f.write_str("-")?;
                }
                let symbol = CROCKFORD[((acc >> bits) & 31) as usize];
                fmt::Write::write_char(f, char::from(symbol))?;
                written += 1;
            }
        }
        Ok(())
    }
}

fn crockford_value(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    let index = CROCKFORD.iter().position(|&s| char::from(s) == c)?;
    u8::try_from(index).ok()
}

impl FromStr for EnrolmentCode {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut values = Vec::with_capacity(CODE_CHARS);
        for (index, character) in s.chars().enumerate() {
            if character == '-' || character.is_whitespace() {
                continue;
            }
            let value = crockford_value(character).ok_or(PkiError::CodeCharacter {
                character,
                position: index + 1,
            })?;
            values.push(value);
        }
        if values.len() != CODE_CHARS {
            return Err(PkiError::CodeLength {
                found: values.len(),
            });
        }
        let mut bytes = [0u8; 20];
        let mut acc: u32 = 0;
        let mut bits = 0;
        let mut out = 0;
        for value in values {
            acc = (acc << 5) | u32::from(value);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes[out] = ((acc >> bits) & 0xff) as u8;
                out += 1;
            }
        }
        let mut secret = [0u8; 10];
        let mut ca_pin = [0u8; 10];
        secret.copy_from_slice(&bytes[..10]);
        ca_pin.copy_from_slice(&bytes[10..]);
        Ok(Self { secret, ca_pin })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_with_sans(sans: Vec<SanType>) -> Vec<u8> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn uri(s: &str) -> SanType {
        SanType::URI(s.try_into().unwrap())
    }

    #[test]
    fn role_of_reads_hub_and_node() {
        assert_eq!(
            role_of(&leaf_with_sans(vec![uri(HUB_URI)])).unwrap(),
            PeerRole::Hub
        );
        let clinic = Uuid::new_v4();
        let node = Uuid::new_v4();
        let der = leaf_with_sans(vec![
            SanType::DnsName("example.org".try_into().unwrap()),
            uri("https://example.org/not-attach"),
            uri(&format!("urn:attach:node:{clinic}:{node}")),
        ]);
        assert_eq!(role_of(&der).unwrap(), PeerRole::Node { clinic, node });
    }

    #[test]
    fn role_of_rejects_missing_duplicate_and_malformed_uris() {
        let no_san = leaf_with_sans(vec![]);
        assert!(matches!(role_of(&no_san), Err(PkiError::NoRole)));
        let dns_only = leaf_with_sans(vec![SanType::DnsName("hub.example".try_into().unwrap())]);
        assert!(matches!(role_of(&dns_only), Err(PkiError::NoRole)));
        let two = leaf_with_sans(vec![uri(HUB_URI), uri(HUB_URI)]);
        assert!(matches!(role_of(&two), Err(PkiError::AmbiguousRole(2))));
        let (c, n) = (Uuid::new_v4(), Uuid::new_v4());
        for bad in [
            "urn:attach:hubx".to_owned(),
            "urn:attach:node:".to_owned(),
            format!("urn:attach:node:{c}"),
            format!("urn:attach:node:{c}:{n}:extra"),
            format!("urn:attach:node:{c}:not-a-uuid"),
            format!("urn:attach:node:{}:{n}", c.simple()),
            format!("urn:attach:admin:{c}"),
        ] {
            let der = leaf_with_sans(vec![uri(&bad)]);
            match role_of(&der) {
                Err(PkiError::UnknownRole(got)) => assert_eq!(got, bad),
                other => panic!("{bad}: expected UnknownRole, got {other:?}"),
            }
        }
        assert!(matches!(
            role_of(b"not a certificate"),
            Err(PkiError::BadCertificate { .. })
        ));
        let mut trailing = leaf_with_sans(vec![uri(HUB_URI)]);
        trailing.push(0);
        assert!(matches!(
            role_of(&trailing),
            Err(PkiError::BadCertificate { .. })
        ));
    }

    #[test]
    fn ca_round_trips_through_pem_and_issues_verifiable_roles() {
        let ca = HubCa::generate("Test hub CA").unwrap();
        let again = HubCa::from_pem(&ca.cert_pem(), &ca.key_pem()).unwrap();
        assert_eq!(again.cert_der(), ca.cert_der());
        assert_eq!(again.fingerprint(), fingerprint(ca.cert_der()));
        let hub = again
            .issue_hub(&["hub.example.org".to_owned(), "10.1.2.3".to_owned()])
            .unwrap();
        assert_eq!(hub.check().unwrap(), PeerRole::Hub);
        assert_eq!(hub.ca_der().unwrap(), ca.cert_der());
        let (clinic, node) = (Uuid::new_v4(), Uuid::new_v4());
        let key = NodeKey::generate().unwrap();
        let cert_pem = ca
            .issue_node(&key.public_key_der(), clinic, node, Duration::days(30))
            .unwrap();
        let creds = Credentials {
            ca_pem: ca.cert_pem(),
            cert_pem,
            key_pem: key.key_pem(),
        };
        assert_eq!(creds.check().unwrap(), PeerRole::Node { clinic, node });
    }

    #[test]
    fn ca_from_pem_rejects_a_leaf_and_a_foreign_key() {
        let ca = HubCa::generate("CA").unwrap();
        let other = HubCa::generate("Other").unwrap();
        assert!(matches!(
            HubCa::from_pem(&ca.cert_pem(), &other.key_pem()),
            Err(PkiError::KeyMismatch { .. })
        ));
        let hub = ca.issue_hub(&[]).unwrap();
        assert!(matches!(
            HubCa::from_pem(&hub.cert_pem, &hub.key_pem),
            Err(PkiError::NotCa)
        ));
    }

    #[test]
    fn issue_hub_rejects_bad_names() {
        let ca = HubCa::generate("CA").unwrap();
        assert!(matches!(
            ca.issue_hub(&["not a host".to_owned()]),
            Err(PkiError::InvalidName(name)) if name == "not a host"
        ));
    }

    #[test]
    fn issue_node_rejects_malformed_keys() {
        let ca = HubCa::generate("CA").unwrap();
        let (c, n) = (Uuid::new_v4(), Uuid::new_v4());
        let good = NodeKey::generate().unwrap().public_key_der();
        let issue = |der: &[u8]| ca.issue_node(der, c, n, Duration::days(1));
        assert!(issue(&good).is_ok());
        assert!(matches!(issue(b"garbage"), Err(PkiError::BadPublicKey(_))));
        assert!(matches!(
            issue(&good[..good.len() - 1]),
            Err(PkiError::BadPublicKey(_))
        ));
        // Flip a bit of the point's y coordinate: still well-formed DER, off the curve.
        let mut off_curve = good.clone();
        let last = off_curve.len() - 1;
        off_curve[last] ^= 1;
        assert!(matches!(issue(&off_curve), Err(PkiError::BadPublicKey(_))));
        // An Ed25519 key is well-formed but not what Attach uses.
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert!(matches!(
            issue(&ed.subject_public_key_info()),
            Err(PkiError::BadPublicKey(_))
        ));
        assert!(matches!(
            ca.issue_node(&good, c, n, Duration::ZERO),
            Err(PkiError::InvalidValidity(_))
        ));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let ca = HubCa::generate("CA").unwrap();
        let creds = ca.issue_hub(&[]).unwrap();
        let key = NodeKey::generate().unwrap();
        let code = EnrolmentCode::new_for(&ca);
        for (debug, secret) in [
            (format!("{ca:?}"), ca.key_pem()),
            (format!("{creds:?}"), creds.key_pem.clone()),
            (format!("{key:?}"), key.key_pem()),
        ] {
            let body = secret.lines().nth(1).unwrap();
            assert!(!debug.contains(body), "{debug}");
            assert!(debug.contains("redacted"));
        }
        let debug = format!("{code:?}");
        assert!(!debug.contains(&hex::encode(code.secret)), "{debug}");
        assert!(!debug.contains(&code.to_string()), "{debug}");
    }

    #[test]
    fn code_pins_the_ca() {
        let ca = HubCa::generate("CA").unwrap();
        let other = HubCa::generate("CA").unwrap();
        let code = EnrolmentCode::new_for(&ca);
        assert!(code.pin_matches(ca.cert_der()));
        assert!(!code.pin_matches(other.cert_der()));
        assert_ne!(code.secret, EnrolmentCode::new_for(&ca).secret);
    }

    #[cfg(unix)]
    #[test]
    fn credentials_save_and_load() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("attach-pki-{}", Uuid::new_v4()));
        assert!(Credentials::load(&dir).unwrap().is_none());
        let ca = HubCa::generate("CA").unwrap();
        let creds = ca.issue_hub(&[]).unwrap();
        creds.save(&dir).unwrap();
        // Saving again replaces the files.
        creds.save(&dir).unwrap();
        let mode = fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = Credentials::load(&dir).unwrap().unwrap();
        assert_eq!(loaded.cert_pem, creds.cert_pem);
        assert_eq!(loaded.key_pem, creds.key_pem);
        assert_eq!(loaded.ca_pem, creds.ca_pem);
        fs::remove_file(dir.join(KEY_FILE)).unwrap();
        let err = Credentials::load(&dir).unwrap_err();
        assert!(
            matches!(
                err,
                PkiError::Incomplete {
                    missing: "key.pem",
                    ..
                }
            ),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
