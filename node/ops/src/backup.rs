//! Backup files: one compressed, checksummed file holding a consistent copy of a data
//! directory (every tree of its store and the identity files), and their restore.
//!
//! Layout of a backup file:
//!
//! ```text
//! "ATTACH-BACKUP\n"            14 bytes, so `head -1` on a backup says what it is
//! container version            u32 BE (this code writes and reads 1)
//! zlib stream of records:
//!   header                     u32 BE length + JSON (`BackupHeader`)
//!   'T' name                   start of a tree (name: u32 BE length + bytes)
//!   'K' key value              an entry of the current tree (each u32 BE length + bytes)
//!   'F' path mode content      a file under the data directory (path UTF-8, mode u32 BE,
//!                              content u64 BE length + bytes)
//!   'E' count                  the end: u64 BE number of T/K/F records before it
//! SHA-256 of every byte above  32 bytes
//! ```
//!
//! Restoring checks the checksum over the whole file before it writes anything, so a
//! damaged or truncated file is refused whole; the end record catches a writer that
//! stopped early. Paths are relative and may not climb out of the data directory.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use attach_store::{DocStore, StoppedStore, StoreError, TreeRecord, TreeRestore};
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::OpsError;

const MAGIC: &[u8; 14] = b"ATTACH-BACKUP\n";
const CONTAINER_VERSION: u32 = 1;
const CHECKSUM_LEN: u64 = 32;
/// Largest single name, key, value or file a backup may hold. Stored values and the identity
/// files are far smaller; the cap keeps a hostile file from asking for huge allocations.
const MAX_ITEM: u64 = 1 << 30;
/// Directories under a data directory that a backup never holds: the store (copied
/// tree by tree instead) and backups the upgrade took.
const SKIP_DIRS: &[&str] = &["docs", super::UPGRADE_BACKUPS];
/// Files a running process writes for the CLI and that mean nothing in a copy.
const SKIP_FILES: &[&str] = &["hub/admin-address", "admin/address"];

/// What a backup says about itself (the first record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// Data format version of the directory it was taken from (`store::format`).
    pub data_format: u32,
    /// `"node"` or `"hub"`.
    pub role: String,
    /// When it was taken, unix seconds.
    pub created_unix: i64,
    /// The `attach` version that wrote it.
    pub attach_version: String,
}

/// What a backup held, for the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSummary {
    pub trees: u64,
    pub entries: u64,
    pub files: u64,
}

/// Reads a data directory's trees. The running store supplies a consistent view
/// ([`DocStore::dump_trees`]); a stopped directory is read directly ([`open_stopped`]).
pub trait TreeSource {
    /// Hands every tree and its entries to `visit` (see [`attach_store::dump`]), in a state
    /// where the document tree does not change.
    fn dump_trees(
        &self,
        visit: &mut dyn FnMut(TreeRecord<'_>) -> Result<(), OpsError>,
    ) -> Result<(), OpsError>;
}

impl TreeSource for DocStore {
    fn dump_trees(
        &self,
        visit: &mut dyn FnMut(TreeRecord<'_>) -> Result<(), OpsError>,
    ) -> Result<(), OpsError> {
        DocStore::dump_trees(self, visit)
    }
}

impl TreeSource for StoppedStore {
    fn dump_trees(
        &self,
        visit: &mut dyn FnMut(TreeRecord<'_>) -> Result<(), OpsError>,
    ) -> Result<(), OpsError> {
        StoppedStore::dump_trees(self, visit)
    }
}

/// Opens the store of a stopped data directory directly (it holds the store's lock
/// meanwhile).
pub fn open_stopped(data_dir: &Path) -> Result<StoppedStore, OpsError> {
    match StoppedStore::open(&data_dir.join("docs")) {
        Ok(Some(store)) => Ok(store),
        Ok(None) => Err(OpsError::NotADataDir(data_dir.to_owned())),
        // The engine's own words (another process holds the lock, typically).
        Err(StoreError::Engine(e)) => Err(OpsError::Busy(data_dir.to_owned(), e.to_string())),
        Err(e) => Err(OpsError::Busy(data_dir.to_owned(), e.to_string())),
    }
}

/// Writes everything to `out` and returns it; `out` only ever sees the bytes once
/// [`HashingWriter::finish`] appended the checksum.
struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> HashingWriter<W> {
    fn finish(mut self) -> io::Result<W> {
        let digest = self.hash.finalize();
        self.inner.write_all(&digest)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

struct RecordWriter<W: Write> {
    z: ZlibEncoder<HashingWriter<W>>,
    records: u64,
    summary: BackupSummary,
}

impl<W: Write> RecordWriter<W> {
    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        let len = u32::try_from(b.len()).map_err(|_| io::Error::other("item too large"))?;
        self.z.write_all(&len.to_be_bytes())?;
        self.z.write_all(b)
    }
    fn tree(&mut self, name: &[u8]) -> io::Result<()> {
        self.z.write_all(b"T")?;
        self.bytes(name)?;
        self.records += 1;
        self.summary.trees += 1;
        Ok(())
    }
    fn entry(&mut self, k: &[u8], v: &[u8]) -> io::Result<()> {
        self.z.write_all(b"K")?;
        self.bytes(k)?;
        self.bytes(v)?;
        self.records += 1;
        self.summary.entries += 1;
        Ok(())
    }
    fn file(&mut self, rel: &str, mode: u32, content: &[u8]) -> io::Result<()> {
        self.z.write_all(b"F")?;
        self.bytes(rel.as_bytes())?;
        self.z.write_all(&mode.to_be_bytes())?;
        self.z.write_all(&(content.len() as u64).to_be_bytes())?;
        self.z.write_all(content)?;
        self.records += 1;
        self.summary.files += 1;
        Ok(())
    }
}

/// Writes a backup of the data directory `data_dir` (trees from `source`) to `out`.
pub fn write_backup<W: Write>(
    source: &dyn TreeSource,
    data_dir: &Path,
    header: &BackupHeader,
    out: W,
) -> Result<(W, BackupSummary), OpsError> {
    let mut out = out;
    out.write_all(MAGIC)?;
    out.write_all(&CONTAINER_VERSION.to_be_bytes())?;
    let hashing = HashingWriter {
        inner: out,
        hash: Sha256::new(),
    };
    // The magic and version are outside the hasher's view so far; hash them too.
    let mut hashing = hashing;
    hashing.hash.update(MAGIC);
    hashing.hash.update(CONTAINER_VERSION.to_be_bytes());
    let mut w = RecordWriter {
        z: ZlibEncoder::new(hashing, Compression::new(6)),
        records: 0,
        summary: BackupSummary::default(),
    };
    let header_json = serde_json::to_vec(header).map_err(io::Error::other)?;
    w.bytes(&header_json)?;
    // Identity files first: they change rarely, and never together with the trees.
    for (rel, path) in data_files(data_dir)? {
        let content = std::fs::read(&path)?;
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&path)?.permissions().mode() & 0o777
        };
        w.file(&rel, mode, &content)?;
    }
    // Node-local trees (sessions, sync peers, hub records) come before the document tree
    // (`attach_store::dump` says why).
    source.dump_trees(&mut |record| {
        match record {
            TreeRecord::Tree(name) => w.tree(name)?,
            TreeRecord::Entry { key, value } => w.entry(key, value)?,
        }
        Ok(())
    })?;
    w.z.write_all(b"E")?;
    w.z.write_all(&w.records.to_be_bytes())?;
    let summary = w.summary;
    let out = w.z.finish()?.finish()?;
    Ok((out, summary))
}

/// Regular files under the data directory that belong in a backup, with their relative
/// paths, sorted.
fn data_files(data_dir: &Path) -> Result<Vec<(String, PathBuf)>, OpsError> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), data_dir.to_owned())];
    while let Some((prefix, dir)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if !SKIP_DIRS.contains(&rel.as_str()) {
                    stack.push((rel, entry.path()));
                }
            } else if kind.is_file()
                && !SKIP_FILES.contains(&rel.as_str())
                && rel != attach_store::format::MARKER_FILE
            {
                out.push((rel, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Checks a backup file's magic, version and checksum without unpacking it.
pub fn verify(path: &Path) -> Result<u64, OpsError> {
    let bad = |reason: String| OpsError::BadBackup {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).map_err(|e| bad(format!("cannot open it: {e}")))?;
    let len = file.metadata()?.len();
    let mut r = BufReader::new(file);
    let mut magic = Vec::with_capacity(MAGIC.len());
    (&mut r).take(MAGIC.len() as u64).read_to_end(&mut magic)?;
    if magic.as_slice() != MAGIC {
        return Err(bad(if MAGIC.starts_with(&magic) {
            "it is cut short (it ends inside its first line)".into()
        } else {
            "it is not an Attach backup (it does not start with ATTACH-BACKUP)".into()
        }));
    }
    let mut version = [0u8; 4];
    r.read_exact(&mut version)
        .map_err(|_| bad("it is cut short right after its first line".into()))?;
    let version = u32::from_be_bytes(version);
    if version != CONTAINER_VERSION {
        return Err(bad(format!(
            "it is a backup container of version {version}; this attach reads version {CONTAINER_VERSION} (restore it with a newer attach)"
        )));
    }
    let body = len
        .checked_sub(MAGIC.len() as u64 + 4 + CHECKSUM_LEN)
        .ok_or_else(|| bad("it is cut short: no room for its checksum".into()))?;
    let mut hash = Sha256::new();
    hash.update(MAGIC);
    hash.update(version.to_be_bytes());
    let copied = io::copy(&mut (&mut r).take(body), &mut HashSink(&mut hash))?;
    let mut stored = [0u8; 32];
    if copied != body || r.read_exact(&mut stored).is_err() {
        return Err(bad("it is cut short".into()));
    }
    if hash.finalize().as_slice() != stored {
        return Err(bad(
            "its SHA-256 checksum does not match its contents: the file is damaged or \
             incomplete (cut short while copying?)"
                .into(),
        ));
    }
    Ok(len)
}

struct HashSink<'a>(&'a mut Sha256);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a backup's header (after [`verify`]).
pub fn read_header(path: &Path) -> Result<BackupHeader, OpsError> {
    let mut reader = RecordReader::open(path)?;
    reader.header()
}

struct RecordReader {
    z: ZlibDecoder<io::Take<BufReader<File>>>,
    path: PathBuf,
}

impl RecordReader {
    fn open(path: &Path) -> Result<Self, OpsError> {
        let len = verify(path)?;
        let mut r = BufReader::new(File::open(path)?);
        let mut skip = [0u8; 18];
        r.read_exact(&mut skip)?;
        Ok(Self {
            z: ZlibDecoder::new(r.take(len - 18 - CHECKSUM_LEN)),
            path: path.to_owned(),
        })
    }
    fn bad(&self, reason: impl Into<String>) -> OpsError {
        OpsError::BadBackup {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }
    fn exact<const N: usize>(&mut self) -> Result<[u8; N], OpsError> {
        let mut b = [0u8; N];
        self.z
            .read_exact(&mut b)
            .map_err(|e| self.bad(format!("its contents end early or do not unpack: {e}")))?;
        Ok(b)
    }
    fn sized(&mut self, len: u64) -> Result<Vec<u8>, OpsError> {
        if len > MAX_ITEM {
            return Err(self.bad(format!("it declares an item of {len} bytes")));
        }
        let mut v = Vec::new();
        let got = (&mut self.z)
            .take(len)
            .read_to_end(&mut v)
            .map_err(|e| self.bad(format!("its contents do not unpack: {e}")))?;
        if got as u64 != len {
            return Err(self.bad("its contents end early"));
        }
        Ok(v)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, OpsError> {
        let len = u32::from_be_bytes(self.exact()?);
        self.sized(u64::from(len))
    }
    fn header(&mut self) -> Result<BackupHeader, OpsError> {
        let json = self.bytes()?;
        serde_json::from_slice(&json).map_err(|e| self.bad(format!("its header is invalid: {e}")))
    }
}

/// Restores the backup at `file` into `data_dir`, which must be empty or not exist. Nothing
/// is written before the whole file's checksum has been checked; if unpacking fails
/// half-way, what was written is removed again.
pub fn restore(file: &Path, data_dir: &Path) -> Result<(BackupHeader, BackupSummary), OpsError> {
    let existed = match std::fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(OpsError::NotEmpty(data_dir.to_owned()));
            }
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    let mut reader = RecordReader::open(file)?;
    let header = reader.header()?;
    if header.data_format > attach_store::format::DATA_FORMAT {
        return Err(attach_store::format::FormatError::Newer {
            dir: file.to_owned(),
            found: header.data_format,
        }
        .into());
    }
    super::create_private_dir(data_dir)?;
    match unpack(&mut reader, data_dir) {
        Ok(summary) => {
            attach_store::format::write_marker(data_dir, header.data_format)?;
            Ok((header, summary))
        }
        Err(e) => {
            // Leave the directory as it was: empty (or absent).
            let _ = std::fs::remove_dir_all(data_dir);
            if existed {
                let _ = super::create_private_dir(data_dir);
            }
            Err(e)
        }
    }
}

fn unpack(reader: &mut RecordReader, data_dir: &Path) -> Result<BackupSummary, OpsError> {
    let mut trees = TreeRestore::create(&data_dir.join("docs"))?;
    let mut summary = BackupSummary::default();
    let mut records = 0u64;
    loop {
        let [tag] = reader.exact::<1>()?;
        match tag {
            b'T' => {
                let name = reader.bytes()?;
                trees.write(TreeRecord::Tree(&name))?;
                summary.trees += 1;
            }
            b'K' => {
                let k = reader.bytes()?;
                let v = reader.bytes()?;
                if !trees.in_tree() {
                    return Err(reader.bad("it has an entry outside any tree"));
                }
                trees.write(TreeRecord::Entry { key: &k, value: &v })?;
                summary.entries += 1;
            }
            b'F' => {
                let rel = reader.bytes()?;
                let mode = u32::from_be_bytes(reader.exact()?);
                let len = u64::from_be_bytes(reader.exact()?);
                let content = reader.sized(len)?;
                let rel = String::from_utf8(rel)
                    .ok()
                    .filter(|r| is_safe_relative(r))
                    .ok_or_else(|| reader.bad("it names a file outside the data directory"))?;
                write_file(&data_dir.join(&rel), mode, &content)?;
                summary.files += 1;
            }
            b'E' => {
                let count = u64::from_be_bytes(reader.exact()?);
                if count != records {
                    return Err(reader.bad(format!(
                        "its end record counts {count} items but it holds {records}"
                    )));
                }
                break;
            }
            other => {
                return Err(reader.bad(format!("it holds an unknown record type {other:#04x}")));
            }
        }
        records += 1;
    }
    trees.finish()?;
    sync_tree(data_dir)?;
    Ok(summary)
}

fn is_safe_relative(rel: &str) -> bool {
    let path = Path::new(rel);
    !rel.is_empty()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
        && !SKIP_DIRS.iter().any(|d| path.starts_with(d))
}

fn write_file(path: &Path, mode: u32, content: &[u8]) -> Result<(), OpsError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .open(path)?;
    f.write_all(content)?;
    f.sync_all()?;
    Ok(())
}

/// fsyncs every file and directory under `dir` (a restore is durable before it reports).
fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            File::open(entry.path())?.sync_all()?;
        }
    }
    File::open(dir)?.sync_all()
}

/// Writes a backup to the file `out` through a temporary file beside it, so `out` is either
/// a complete, checked backup or untouched.
pub fn write_backup_file(
    out: &Path,
    produce: impl FnOnce(&mut BufWriter<File>) -> Result<(), OpsError>,
) -> Result<u64, OpsError> {
    let tmp = temp_path(out);
    let result = (|| {
        // Backups hold patient data: owner-only, like the data directory.
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?
        };
        let mut w = BufWriter::new(file);
        produce(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        let len = verify(&tmp)?;
        std::fs::rename(&tmp, out)?;
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(parent)?.sync_all()?;
        }
        Ok(len)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "backup".into());
    name.push(".partial");
    out.with_file_name(name)
}
