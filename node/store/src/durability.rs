//! Group commit: the barrier that makes applied sled batches survive kill -9 and power loss.
//!
//! sled 0.34's `flush()` writes its log with `sync_file_range`, which survives a process crash
//! but neither flushes the drive cache nor file metadata. After the flush the barrier therefore
//! `fdatasync`s sled's data file (`db`), `fsync`s any new file in `blobs/` (sled writes values too
//! large for a log segment there without syncing them), and `fsync`s `blobs/` and the data
//! directory when their entries changed (new blobs, new `snap.*` snapshot files).
//!
//! Writers apply their batch, take a generation number, then wait for a barrier that started
//! after their batch was applied. One thread at a time runs the flush + fsyncs; it covers every
//! generation applied before it started, so concurrent writers share one fsync.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use parking_lot::{Condvar, Mutex};

#[derive(Debug, Default)]
struct State {
    /// Generation of the last batch applied to sled.
    applied: u64,
    /// Every generation up to this one is durable.
    synced: u64,
    /// A thread is running the flush + fsyncs.
    syncing: bool,
    /// Highest change-feed seq applied / made durable.
    applied_feed: u64,
    durable_feed: u64,
}

#[derive(Debug)]
struct Files {
    db: File,
    dir_entries: BTreeSet<OsString>,
    blob_entries: BTreeSet<OsString>,
}

#[derive(Debug)]
pub(crate) struct Durability {
    dir: PathBuf,
    state: Mutex<State>,
    cv: Condvar,
    files: Mutex<Files>,
}

fn entries(dir: &Path) -> io::Result<BTreeSet<OsString>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.map(|e| e.file_name())).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e),
    }
}

pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Durability {
    /// Make everything sled has written so far durable, and start tracking its files.
    /// `feed` is the highest change-feed seq already stored.
    pub(crate) fn open(dir: &Path, db: &sled::Db, feed: u64) -> io::Result<Self> {
        let files = Files {
            db: File::open(dir.join("db"))?,
            dir_entries: BTreeSet::new(),
            blob_entries: BTreeSet::new(),
        };
        let this = Self {
            dir: dir.to_owned(),
            state: Mutex::new(State {
                applied_feed: feed,
                durable_feed: feed,
                ..State::default()
            }),
            cv: Condvar::new(),
            files: Mutex::new(files),
        };
        db.flush().map_err(io::Error::other)?;
        let conf = dir.join("conf");
        if conf.exists() {
            File::open(conf)?.sync_all()?;
        }
        this.sync_files(true)?;
        Ok(this)
    }

    /// Record that a batch (carrying change-feed entries up to `feed`, or 0) was applied to sled;
    /// returns its generation, to pass to [`Self::barrier`].
    pub(crate) fn applied(&self, feed: u64) -> u64 {
        let mut st = self.state.lock();
        st.applied += 1;
        st.applied_feed = st.applied_feed.max(feed);
        st.applied
    }

    /// The highest change-feed seq that is durable.
    pub(crate) fn durable_feed(&self) -> u64 {
        self.state.lock().durable_feed
    }

    /// Return once generation `generation` is durable, running the flush + fsyncs if no other
    /// thread is.
    pub(crate) fn barrier(&self, db: &sled::Db, generation: u64) -> io::Result<()> {
        let mut st = self.state.lock();
        loop {
            if st.synced >= generation {
                return Ok(());
            }
            if st.syncing {
                self.cv.wait(&mut st);
                continue;
            }
            st.syncing = true;
            let target = st.applied;
            let target_feed = st.applied_feed;
            let result = parking_lot::MutexGuard::unlocked(&mut st, || self.sync(db));
            st.syncing = false;
            if result.is_ok() {
                st.synced = st.synced.max(target);
                st.durable_feed = st.durable_feed.max(target_feed);
            }
            self.cv.notify_all();
            result?;
        }
    }

    fn sync(&self, db: &sled::Db) -> io::Result<()> {
        db.flush().map_err(io::Error::other)?;
        self.sync_files(false)
    }

    fn sync_files(&self, all: bool) -> io::Result<()> {
        let mut files = self.files.lock();
        files.db.sync_data()?;
        let blobs = self.dir.join("blobs");
        let blob_entries = entries(&blobs)?;
        if all || blob_entries != files.blob_entries {
            for name in blob_entries.difference(&files.blob_entries) {
                match File::open(blobs.join(name)) {
                    Ok(f) => f.sync_all()?,
                    // sled may have removed a blob that became garbage meanwhile.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            if blobs.exists() {
                fsync_dir(&blobs)?;
            }
            files.blob_entries = blob_entries;
        }
        let dir_entries = entries(&self.dir)?;
        if all || dir_entries != files.dir_entries {
            fsync_dir(&self.dir)?;
            files.dir_entries = dir_entries;
        }
        Ok(())
    }
}
