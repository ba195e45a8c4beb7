//! `DocId`: the validated name of one Automerge document.

use std::fmt;

use uuid::Uuid;

use super::StoreError;

/// Longest document id, in bytes.
pub const MAX_DOC_ID_LEN: usize = 200;

/// The name of one document: `/`-separated segments of `[a-z0-9-]`, 1..=200 bytes, no empty
/// segment. Ids never contain patient data (they are built from UUIDs), so they may be logged.
///
/// **Invariant:** a `DocId` contains no `\0`, so `c/<id>\0<seq>` keys of different docs never
/// share a prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(String);

impl DocId {
    /// Check `s` and wrap it.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        check(s, false)?;
        Ok(Self(s.to_owned()))
    }

    /// `<kind>/<id>/<id>…`: a kind word then UUIDs, the only shape the schema names
    /// documents with (`attach_schema::ids` is the one place that says which kinds exist).
    /// Always valid: `kind` is a constant of lowercase letters and `-`, and a UUID's
    /// hyphenated form is digits, `a-f` and `-`.
    pub fn from_parts(kind: &'static str, ids: &[Uuid]) -> Self {
        debug_assert!(
            !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "a document kind is lowercase letters and '-'"
        );
        let mut s = String::with_capacity(kind.len() + ids.len() * 37);
        s.push_str(kind);
        for id in ids {
            s.push('/');
            s.push_str(&id.hyphenated().to_string());
        }
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The document's family: its first two segments (`clinic/<uuid>`, `account/<uuid>`,
    /// `panel/<uuid>` for a panel and all its entries). The store keeps a change feed per
    /// family, so a peer whose scope is a few families reads only their changes.
    pub fn family(&self) -> &str {
        let mut slashes = self.0.match_indices('/').map(|(i, _)| i);
        match (slashes.next(), slashes.next()) {
            (Some(_), Some(second)) => &self.0[..second],
            _ => &self.0,
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DocId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Check a document id, or (with `prefix`) the start of one: a prefix may be empty and may end
/// with `/`.
pub(crate) fn check(s: &str, prefix: bool) -> Result<(), StoreError> {
    let invalid = |reason: &'static str| Err(StoreError::InvalidDocId { reason });
    if s.len() > MAX_DOC_ID_LEN {
        return invalid("it is longer than 200 characters");
    }
    if s.is_empty() && !prefix {
        return invalid("it is empty");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'/')
    {
        return invalid("only lowercase letters, digits, '-' and '/' are allowed");
    }
    let mut segments: Vec<&str> = s.split('/').collect();
    if prefix && s.ends_with('/') {
        segments.pop();
    }
    if !s.is_empty() && segments.iter().any(|seg| seg.is_empty()) {
        return invalid("it has an empty part between '/' separators");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_document_kinds_attach_uses() {
        let u = Uuid::now_v7();
        for id in [
            DocId::from_parts("clinic", &[u]),
            DocId::from_parts("account", &[u]),
            DocId::from_parts("panel", &[u]),
            DocId::from_parts("panel", &[u, Uuid::now_v7()]),
        ] {
            assert_eq!(DocId::parse(id.as_str()).unwrap(), id);
            assert_eq!(id.to_string(), id.as_str());
        }
    }

    #[test]
    fn a_family_is_the_first_two_segments() {
        let (u, e) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            DocId::from_parts("clinic", &[u]).family(),
            format!("clinic/{u}")
        );
        assert_eq!(
            DocId::from_parts("panel", &[u]).family(),
            format!("panel/{u}")
        );
        assert_eq!(
            DocId::from_parts("panel", &[u, e]).family(),
            format!("panel/{u}")
        );
        assert_eq!(DocId::parse("single").unwrap().family(), "single");
    }

    #[test]
    fn rejects_malformed_ids() {
        let long = "a".repeat(201);
        for bad in [
            "", "/a", "a/", "a//b", "A", "a b", "a\0b", "é", "a_b", &long,
        ] {
            assert!(DocId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(DocId::parse(&"a".repeat(200)).is_ok());
    }

    #[test]
    fn prefixes_may_be_empty_or_end_with_a_slash() {
        assert!(check("", true).is_ok());
        assert!(check("panel/", true).is_ok());
        assert!(check("panel/ab", true).is_ok());
        assert!(check("panel//", true).is_err());
        assert!(check("Panel/", true).is_err());
    }
}
