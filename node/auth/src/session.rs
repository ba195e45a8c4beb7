//! Signed-in sessions: persisted in the node-local tree [`SESSIONS_TREE`], served from memory.
//!
//! The client holds a token: 32 random bytes from the OS CSPRNG, hex-encoded (64
//! characters). The node keeps only the SHA-256 of those bytes, as the tree key, so a copy
//! of the database does not let anyone take over a session.
//!
//! A session ends after [`SessionConfig::idle_timeout`] without use (default 30 min), after
//! [`SessionConfig::absolute_lifetime`] in any case (default 12 h), or when revoked. Reads
//! keep `last_seen` current in memory and write it to disk at most once per
//! [`LAST_SEEN_PERSIST_INTERVAL`] per session, so a read is not a disk write; after a
//! restart a session may therefore look up to a minute idler than it was.
//!
//! All calls block on the store (create and revoke wait for a flush): call them from
//! `spawn_blocking` or a dedicated thread, not from async worker threads.

use std::collections::HashMap;
use std::sync::Arc;

use attach_store::{DocStore, LocalBatch, LocalTree};
use parking_lot::{Mutex, RwLock};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::AuthError;

/// The node-local tree holding sessions (key: SHA-256 of the token; value: JSON [`Session`]).
pub const SESSIONS_TREE: &str = "sessions-v1";
/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;
/// Default idle timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// Default absolute lifetime: a session never outlives a working day.
pub const DEFAULT_ABSOLUTE_LIFETIME: Duration = Duration::hours(12);
/// `last_seen` is written to disk at most this often per session.
pub const LAST_SEEN_PERSIST_INTERVAL: Duration = Duration::minutes(1);

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// A session unused for this long is over.
    pub idle_timeout: Duration,
    /// A session this old is over, however busy.
    pub absolute_lifetime: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            absolute_lifetime: DEFAULT_ABSOLUTE_LIFETIME,
        }
    }
}

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user: Uuid,
    /// The clinic the user is working in now, once chosen.
    pub clinic: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// The session may only be used to set a new password.
    pub must_change_password: bool,
}

impl Session {
    /// Whether the session is over at `now` (idle too long, or too old).
    pub fn is_expired(&self, now: OffsetDateTime, config: &SessionConfig) -> bool {
        now - self.last_seen >= config.idle_timeout
            || now - self.created_at >= config.absolute_lifetime
    }
}

type Key = [u8; 32];

/// The tree key of a token: SHA-256 of its 32 bytes. `None` if `token` is not 64 hex
/// digits.
fn token_key(token: &str) -> Option<Key> {
    let mut bytes = [0u8; TOKEN_BYTES];
    hex::decode_to_slice(token.trim(), &mut bytes).ok()?;
    Some(Sha256::digest(bytes).into())
}

struct Entry {
    session: Session,
    /// The `last_seen` last written to disk.
    persisted_last_seen: OffsetDateTime,
    /// Set (under the entry's lock) when the session is revoked, so a reader that still
    /// holds the entry neither returns it nor writes it back to disk.
    revoked: bool,
}

struct Inner {
    tree: LocalTree,
    config: SessionConfig,
    /// Lock order: this map first, then an entry.
    sessions: RwLock<HashMap<Key, Arc<Mutex<Entry>>>>,
}

/// The node's sessions. Cloning gives another handle to the same store.
#[derive(Clone)]
pub struct SessionStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("sessions", &self.inner.sessions.read().len())
            .field("config", &self.inner.config)
            .finish()
    }
}

fn write(tree: &LocalTree, key: &Key, session: &Session) -> Result<(), AuthError> {
    tree.insert(key, serde_json::to_vec(session)?)?;
    Ok(())
}

impl SessionStore {
    /// Opens the sessions kept in `store`, loading those still valid at `now` and deleting
    /// the rest (expired or unreadable).
    pub fn open(
        store: &DocStore,
        config: SessionConfig,
        now: OffsetDateTime,
    ) -> Result<Self, AuthError> {
        Self::load(store.local_tree(SESSIONS_TREE)?, config, now)
    }

    /// [`SessionStore::open`] over the sessions tree itself.
    fn load(
        tree: LocalTree,
        config: SessionConfig,
        now: OffsetDateTime,
    ) -> Result<Self, AuthError> {
        let mut sessions = HashMap::new();
        let mut stale = LocalBatch::default();
        let mut dropped = 0usize;
        for item in tree.iter() {
            let (k, v) = item?;
            let loaded = <Key>::try_from(k.as_slice())
                .ok()
                .zip(serde_json::from_slice::<Session>(&v).ok());
            match loaded {
                Some((key, session)) if !session.is_expired(now, &config) => {
                    let entry = Entry {
                        persisted_last_seen: session.last_seen,
                        session,
                        revoked: false,
                    };
                    sessions.insert(key, Arc::new(Mutex::new(entry)));
                }
                _ => {
                    stale.remove(k);
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            tree.apply_batch(stale)?;
            tree.flush()?;
        }
        tracing::debug!(loaded = sessions.len(), dropped, "sessions loaded");
        Ok(Self {
            inner: Arc::new(Inner {
                tree,
                config,
                sessions: RwLock::new(sessions),
            }),
        })
    }

    pub fn config(&self) -> SessionConfig {
        self.inner.config
    }

    /// Starts a session for `user` at `now`. Returns the token to give the client (shown
    /// to nobody else, stored nowhere) and the session. Flushed to disk before returning.
    pub fn create(&self, user: Uuid, now: OffsetDateTime) -> Result<(String, Session), AuthError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let key: Key = Sha256::digest(bytes).into();
        let session = Session {
            user,
            clinic: None,
            created_at: now,
            last_seen: now,
            must_change_password: false,
        };
        {
            // Held across the write so that a concurrent `revoke_user` sees either neither
            // or both of the disk record and the memory entry.
            let mut sessions = self.inner.sessions.write();
            write(&self.inner.tree, &key, &session)?;
            let entry = Entry {
                session: session.clone(),
                persisted_last_seen: now,
                revoked: false,
            };
            sessions.insert(key, Arc::new(Mutex::new(entry)));
        }
        self.inner.tree.flush()?;
        Ok((token, session))
    }

    fn entry(&self, token: &str) -> Option<(Key, Arc<Mutex<Entry>>)> {
        let key = token_key(token)?;
        let entry = self.inner.sessions.read().get(&key).cloned()?;
        Some((key, entry))
    }

    /// The session of `token` if it is valid at `now`, marking it as used. An expired
    /// session is deleted.
    pub fn get(&self, token: &str, now: OffsetDateTime) -> Option<Session> {
        let (key, entry) = self.entry(token)?;
        let mut e = entry.lock();
        if e.revoked {
            return None;
        }
        if e.session.is_expired(now, &self.inner.config) {
            drop(e);
            if let Err(error) = self.remove_keys(&[key]) {
                tracing::warn!(%error, "could not delete an expired session");
            }
            return None;
        }
        if now > e.session.last_seen {
            e.session.last_seen = now;
        }
        if now - e.persisted_last_seen >= LAST_SEEN_PERSIST_INTERVAL {
            match write(&self.inner.tree, &key, &e.session) {
                Ok(()) => e.persisted_last_seen = now,
                Err(error) => tracing::warn!(%error, "could not record session activity"),
            }
        }
        Some(e.session.clone())
    }

    /// Applies `change` to the session of `token` and writes it. `Ok(false)` if there is no
    /// such session.
    fn update(&self, token: &str, change: impl FnOnce(&mut Session)) -> Result<bool, AuthError> {
        let Some((key, entry)) = self.entry(token) else {
            return Ok(false);
        };
        let mut e = entry.lock();
        if e.revoked {
            return Ok(false);
        }
        let mut updated = e.session.clone();
        change(&mut updated);
        write(&self.inner.tree, &key, &updated)?;
        e.persisted_last_seen = updated.last_seen;
        e.session = updated;
        Ok(true)
    }

    /// Selects the clinic the session works in (`None`: no clinic chosen). `Ok(false)` if
    /// the session does not exist (any more).
    pub fn set_clinic(&self, token: &str, clinic: Option<Uuid>) -> Result<bool, AuthError> {
        self.update(token, |s| s.clinic = clinic)
    }

    /// Sets whether the session may only be used to change the password.
    pub fn set_must_change(&self, token: &str, must_change: bool) -> Result<bool, AuthError> {
        self.update(token, |s| s.must_change_password = must_change)
    }

    /// Deletes the given sessions from disk (one batch) and memory. Returns how many
    /// existed.
    fn remove_keys(&self, keys: &[Key]) -> Result<usize, AuthError> {
        let mut sessions = self.inner.sessions.write();
        self.remove_locked(&mut sessions, keys)
    }

    /// Deletes the sessions for which `doomed` holds, choosing them under the same write
    /// lock as the deletion, so a session created meanwhile cannot slip through.
    fn remove_where(&self, doomed: impl Fn(&Session) -> bool) -> Result<usize, AuthError> {
        let mut sessions = self.inner.sessions.write();
        let keys: Vec<Key> = sessions
            .iter()
            .filter(|(_, entry)| doomed(&entry.lock().session))
            .map(|(key, _)| *key)
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        self.remove_locked(&mut sessions, &keys)
    }

    fn remove_locked(
        &self,
        sessions: &mut HashMap<Key, Arc<Mutex<Entry>>>,
        keys: &[Key],
    ) -> Result<usize, AuthError> {
        let mut batch = LocalBatch::default();
        for key in keys {
            batch.remove(key);
        }
        // Disk first: if it fails, memory still matches the disk and the caller hears of it.
        self.inner.tree.apply_batch(batch)?;
        let mut removed = 0;
        for key in keys {
            if let Some(entry) = sessions.remove(key) {
                entry.lock().revoked = true;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Ends the session of `token` (sign-out). `Ok(false)` if there was none. Flushed to
    /// disk before returning.
    pub fn revoke(&self, token: &str) -> Result<bool, AuthError> {
        let Some(key) = token_key(token) else {
            return Ok(false);
        };
        let removed = self.remove_keys(&[key])?;
        self.inner.tree.flush()?;
        Ok(removed > 0)
    }

    /// Ends every session of `user` (password reset, deactivation). Returns how many ended.
    /// Flushed to disk before returning.
    pub fn revoke_user(&self, user: Uuid) -> Result<usize, AuthError> {
        let removed = self.remove_where(|session| session.user == user)?;
        self.inner.tree.flush()?;
        Ok(removed)
    }

    /// Deletes every session that is over at `now`. Returns how many.
    pub fn purge_expired(&self, now: OffsetDateTime) -> Result<usize, AuthError> {
        let config = self.inner.config;
        self.remove_where(|session| session.is_expired(now, &config))
    }

    /// Sessions held in memory (including expired ones not yet purged).
    pub fn len(&self) -> usize {
        self.inner.sessions.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2025-03-03 08:00 UTC);

    /// The sessions tree in a database of its own, in a fresh directory under the system
    /// temp dir, removed on drop.
    struct TempDb {
        dir: PathBuf,
        tree: Option<LocalTree>,
    }

    impl TempDb {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "attach-auth-{name}-{}-{}",
                std::process::id(),
                Uuid::new_v4()
            ));
            let tree = LocalTree::open_in(&dir, SESSIONS_TREE).unwrap();
            Self {
                dir,
                tree: Some(tree),
            }
        }
        /// Closes and reopens the database, as a node restart does.
        fn reopen(&mut self) {
            self.tree.take().unwrap().flush().unwrap();
            self.tree = Some(LocalTree::open_in(&self.dir, SESSIONS_TREE).unwrap());
        }
        fn tree(&self) -> LocalTree {
            self.tree.clone().unwrap()
        }
        /// Entries in the tree.
        fn count(&self) -> usize {
            self.tree().iter().count()
        }
        fn stored(&self) -> Vec<Session> {
            self.tree()
                .iter()
                .map(|kv| serde_json::from_slice(&kv.unwrap().1).unwrap())
                .collect()
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            self.tree.take();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn open(db: &TempDb, now: OffsetDateTime) -> SessionStore {
        SessionStore::load(db.tree(), SessionConfig::default(), now).unwrap()
    }

    #[test]
    fn create_then_get() {
        let db = TempDb::new("create");
        let store = open(&db, T0);
        let user = Uuid::new_v4();
        let (token, session) = store.create(user, T0).unwrap();
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(session.user, user);
        assert_eq!(session.clinic, None);
        assert!(!session.must_change_password);
        assert_eq!(
            store.get(&token, T0 + Duration::minutes(1)).unwrap().user,
            user
        );

        let (other, _) = store.create(user, T0).unwrap();
        assert_ne!(token, other);
        assert_eq!(store.len(), 2);
        for bogus in [
            "",
            "not a token",
            &"0".repeat(64),
            &token[..63],
            &format!("{token}00"),
        ] {
            assert_eq!(store.get(bogus, T0), None, "{bogus:?}");
        }
        // Tokens are accepted case-insensitively (hex), the same session either way.
        assert!(store.get(&token.to_uppercase(), T0).is_some());
    }

    #[test]
    fn idle_timeout_counts_from_the_last_use() {
        let db = TempDb::new("idle");
        let store = open(&db, T0);
        let (token, _) = store.create(Uuid::new_v4(), T0).unwrap();
        let used = T0 + Duration::minutes(29);
        assert!(store.get(&token, used).is_some());
        assert!(store.get(&token, used + Duration::minutes(29)).is_some());
        let last = used + Duration::minutes(29);
        assert!(
            store
                .get(&token, last + Duration::minutes(30) - Duration::seconds(1))
                .is_some()
        );
        let idle_until = last + Duration::minutes(30) - Duration::seconds(1);
        assert_eq!(store.get(&token, idle_until + Duration::minutes(30)), None);
        // Once expired it is gone, from memory and disk, even if asked again "earlier".
        assert_eq!(store.get(&token, idle_until), None);
        assert!(store.is_empty());
        assert_eq!(db.count(), 0);
    }

    #[test]
    fn idle_timeout_is_configurable() {
        let db = TempDb::new("idle-config");
        let config = SessionConfig {
            idle_timeout: Duration::minutes(5),
            ..SessionConfig::default()
        };
        let store = SessionStore::load(db.tree(), config, T0).unwrap();
        let (token, _) = store.create(Uuid::new_v4(), T0).unwrap();
        assert!(store.get(&token, T0 + Duration::minutes(4)).is_some());
        assert_eq!(store.get(&token, T0 + Duration::minutes(9)), None);
    }

    #[test]
    fn absolute_lifetime_ends_even_a_busy_session() {
        let db = TempDb::new("absolute");
        let store = open(&db, T0);
        let (token, _) = store.create(Uuid::new_v4(), T0).unwrap();
        let mut now = T0;
        while now < T0 + Duration::hours(12) - Duration::minutes(10) {
            now += Duration::minutes(10);
            assert!(store.get(&token, now).is_some(), "{now}");
        }
        assert_eq!(now, T0 + Duration::minutes(710));
        assert!(
            store
                .get(&token, T0 + Duration::hours(12) - Duration::seconds(1))
                .is_some()
        );
        assert_eq!(store.get(&token, T0 + Duration::hours(12)), None);
    }

    #[test]
    fn revoke_and_revoke_user() {
        let db = TempDb::new("revoke");
        let store = open(&db, T0);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let (a1, _) = store.create(alice, T0).unwrap();
        let (a2, _) = store.create(alice, T0).unwrap();
        let (b1, _) = store.create(bob, T0).unwrap();

        // Another handle (as another request handler would hold) sees the same sessions.
        let handle = store.clone();
        assert!(handle.revoke(&b1).unwrap());
        assert_eq!(store.get(&b1, T0), None);
        assert!(!store.revoke(&b1).unwrap(), "already revoked");
        assert!(!store.revoke("garbage").unwrap());

        let (b2, _) = store.create(bob, T0).unwrap();
        assert_eq!(store.revoke_user(alice).unwrap(), 2);
        assert_eq!(store.get(&a1, T0), None);
        assert_eq!(store.get(&a2, T0), None);
        assert_eq!(store.get(&b2, T0).unwrap().user, bob);
        assert_eq!(store.revoke_user(alice).unwrap(), 0);
        assert_eq!(db.stored().len(), 1);
        assert_eq!(db.stored()[0].user, bob);
    }

    #[test]
    fn sessions_survive_a_restart_and_expired_ones_are_dropped() {
        let mut db = TempDb::new("restart");
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let clinic = Uuid::new_v4();
        let (keep, gone, revoked);
        {
            let store = open(&db, T0);
            (keep, _) = store.create(alice, T0 + Duration::minutes(20)).unwrap();
            (gone, _) = store.create(bob, T0).unwrap();
            (revoked, _) = store.create(bob, T0 + Duration::minutes(20)).unwrap();
            assert!(store.set_clinic(&keep, Some(clinic)).unwrap());
            assert!(store.set_must_change(&keep, true).unwrap());
            assert!(store.revoke(&revoked).unwrap());
        }
        db.reopen();
        let restart = T0 + Duration::minutes(35);
        let store = open(&db, restart);
        assert_eq!(store.len(), 1, "the idle session is dropped at open");
        assert_eq!(db.count(), 1, "and deleted from disk");
        let session = store.get(&keep, restart).unwrap();
        assert_eq!(session.user, alice);
        assert_eq!(session.clinic, Some(clinic));
        assert!(session.must_change_password);
        assert_eq!(session.created_at, T0 + Duration::minutes(20));
        assert_eq!(store.get(&gone, restart), None);
        assert_eq!(store.get(&revoked, restart), None);
    }

    #[test]
    fn unreadable_records_are_dropped_at_open() {
        let db = TempDb::new("corrupt");
        db.tree().insert([7u8; 32], &b"not json"[..]).unwrap();
        db.tree().insert(b"short key", &b"{}"[..]).unwrap();
        let store = open(&db, T0);
        assert!(store.is_empty());
        assert_eq!(db.count(), 0);
    }

    #[test]
    fn last_seen_is_written_at_most_once_a_minute() {
        let db = TempDb::new("lazy");
        let store = open(&db, T0);
        let (token, _) = store.create(Uuid::new_v4(), T0).unwrap();
        for seconds in [10, 30, 59] {
            let session = store.get(&token, T0 + Duration::seconds(seconds)).unwrap();
            assert_eq!(session.last_seen, T0 + Duration::seconds(seconds));
            assert_eq!(
                db.stored()[0].last_seen,
                T0,
                "a read within a minute is not written"
            );
        }
        store.get(&token, T0 + Duration::seconds(60)).unwrap();
        assert_eq!(db.stored()[0].last_seen, T0 + Duration::seconds(60));
        store.get(&token, T0 + Duration::seconds(90)).unwrap();
        assert_eq!(db.stored()[0].last_seen, T0 + Duration::seconds(60));
        // A write for another reason records the latest activity too.
        store.set_clinic(&token, Some(Uuid::new_v4())).unwrap();
        assert_eq!(db.stored()[0].last_seen, T0 + Duration::seconds(90));
    }

    #[test]
    fn purge_expired_deletes_only_expired_sessions() {
        let db = TempDb::new("purge");
        let store = open(&db, T0);
        let (old, _) = store.create(Uuid::new_v4(), T0).unwrap();
        let (fresh, _) = store
            .create(Uuid::new_v4(), T0 + Duration::minutes(20))
            .unwrap();
        let now = T0 + Duration::minutes(40);
        assert_eq!(store.purge_expired(now).unwrap(), 1);
        assert_eq!(store.len(), 1);
        assert_eq!(db.count(), 1);
        assert_eq!(store.get(&old, now), None);
        assert!(store.get(&fresh, now).is_some());
        assert_eq!(store.purge_expired(now).unwrap(), 0);
    }

    #[test]
    fn updates_to_a_missing_session_report_false() {
        let db = TempDb::new("missing");
        let store = open(&db, T0);
        let (token, _) = store.create(Uuid::new_v4(), T0).unwrap();
        store.revoke(&token).unwrap();
        assert!(!store.set_clinic(&token, Some(Uuid::new_v4())).unwrap());
        assert!(!store.set_must_change(&token, true).unwrap());
        assert!(db.count() == 0, "a revoked session is not written back");
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(files_under(&path));
            } else {
                files.push(path);
            }
        }
        files
    }

    #[test]
    fn token_is_never_stored_in_clear() {
        let db = TempDb::new("no-clear-token");
        let store = open(&db, T0);
        let user = Uuid::new_v4();
        let (token, _) = store.create(user, T0).unwrap();
        store.set_clinic(&token, Some(Uuid::new_v4())).unwrap();
        store.get(&token, T0 + Duration::minutes(2)).unwrap();
        db.tree().flush().unwrap();

        let raw = hex::decode(&token).unwrap();
        let hashed: Key = Sha256::digest(&raw).into();
        let tree = db.tree();
        assert!(
            tree.get(hashed).unwrap().is_some(),
            "the key is the token's SHA-256"
        );
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            for part in [&k[..], &v[..]] {
                assert!(!contains(part, token.as_bytes()));
                assert!(!contains(part, token.to_uppercase().as_bytes()));
                assert!(!contains(part, &raw));
            }
        }
        // And nowhere in the database's files. Positive control: the user id *is* found there, so
        // the scan does see stored data.
        let mut seen_user = false;
        for file in files_under(&db.dir) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!contains(&bytes, token.as_bytes()), "{}", file.display());
            assert!(!contains(&bytes, &raw), "{}", file.display());
            seen_user |= contains(&bytes, user.to_string().as_bytes());
        }
        assert!(seen_user, "the scan found no stored session at all");
    }
}
