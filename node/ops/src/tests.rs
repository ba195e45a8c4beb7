//! Backups of a live store under write load, restore, and refusal of damaged files.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::backup::{self, BackupHeader};
use super::*;
use attach_app::{App, SystemClock};

fn open(dir: &Path) -> App {
    App::open_at(dir, 8, 30, Arc::new(SystemClock)).expect("opens")
}

/// The demo clinic with `patients` people, as `attach demo` seeds it (a second call on
/// the same store keeps what is there).
fn seed(app: &App, patients: usize) {
    let today = time::OffsetDateTime::now_utc().date();
    app.seed_demo(&attach_app::demo::demo_clinic(patients, today))
        .expect("seed");
}

fn digests(app: &App) -> Vec<(attach_domain::ClinicId, usize, String)> {
    app.clinic_ids()
        .into_iter()
        .map(|c| {
            let (n, d) = app.scope_digest(c).expect("digest");
            (c, n, d)
        })
        .collect()
}

fn header() -> BackupHeader {
    header_for(Path::new("/nonexistent"))
}

/// Backs up the running `app` (as the admin listener does) to `out`.
fn backup_live(app: &App, dir: &Path, out: &Path) {
    backup::write_backup_file(out, |w| {
        backup::write_backup(app.doc_store(), dir, &header(), w)?;
        Ok(())
    })
    .expect("backup");
}

#[test]
fn a_restored_backup_holds_exactly_the_same_documents_and_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("node");
    let app = open(&dir);
    seed(&app, 60);
    std::fs::create_dir_all(dir.join("sync")).expect("mkdir");
    std::fs::write(dir.join("sync/hub-address"), "hub.example:7443\n").expect("write");
    std::fs::create_dir_all(dir.join("admin")).expect("mkdir");
    std::fs::write(dir.join("admin/address"), "127.0.0.1:1").expect("write");
    let out = tmp.path().join("b.attach-backup");
    backup_live(&app, &dir, &out);
    let before = digests(&app);
    assert!(!before.is_empty());

    let restored_dir = tmp.path().join("restored");
    let (h, summary) = backup::restore(&out, &restored_dir).expect("restores");
    assert_eq!(h.role, "node");
    assert!(summary.entries > 60, "{summary:?}");
    assert_eq!(
        std::fs::read_to_string(restored_dir.join("sync/hub-address")).expect("file"),
        "hub.example:7443\n"
    );
    // A running process's address is not part of the copy.
    assert!(!restored_dir.join("admin/address").exists());
    let restored = open(&restored_dir);
    assert_eq!(digests(&restored), before);
    assert_eq!(restored.doc_store().node_id(), app.doc_store().node_id());
}

#[test]
fn a_backup_taken_under_write_load_is_consistent() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("node");
    let app = open(&dir);
    seed(&app, 20);
    let writer = {
        let app = app.clone();
        // Seeding more patients writes hundreds of documents while the backups run.
        std::thread::spawn(move || seed(&app, 400))
    };
    let mut backups = Vec::new();
    while !writer.is_finished() || backups.is_empty() {
        let out = tmp.path().join(format!("b{}.attach-backup", backups.len()));
        backup_live(&app, &dir, &out);
        backups.push(out);
    }
    writer.join().expect("writer");
    let final_out = tmp.path().join("final.attach-backup");
    backup_live(&app, &dir, &final_out);

    // Every snapshot taken mid-load restores to a state the live store went through: every
    // document loads, and its heads are changes the original has.
    for (i, b) in backups.iter().enumerate() {
        let d = tmp.path().join(format!("r{i}"));
        backup::restore(b, &d).expect("restores");
        let restored = open(&d);
        for clinic in restored.clinic_ids() {
            restored.scope_digest(clinic).expect("every document loads");
        }
        let store = restored.doc_store();
        for id in store.ids_with_prefix("").expect("ids") {
            let known: HashSet<_> = app
                .doc_store()
                .history(&id)
                .expect("original has it")
                .into_iter()
                .map(|h| h.hash)
                .collect();
            for head in store.heads(&id).expect("heads") {
                assert!(known.contains(&head), "{id}: head unknown to the original");
            }
        }
    }
    // Once writes stop, a backup restores to exactly the same heads.
    let d = tmp.path().join("final");
    backup::restore(&final_out, &d).expect("restores");
    assert_eq!(digests(&open(&d)), digests(&app));
}

fn small_backup(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("node");
    let app = open(&dir);
    seed(&app, 5);
    let out = tmp.join("b.attach-backup");
    backup_live(&app, &dir, &out);
    out
}

fn refused(file: &Path, target: &Path) -> String {
    let err = backup::restore(file, target).expect_err("refused");
    assert!(
        !target.exists(),
        "a refused restore leaves nothing behind: {err}"
    );
    err.to_string()
}

#[test]
fn a_damaged_backup_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = small_backup(tmp.path());
    let mut bytes = std::fs::read(&out).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let damaged = tmp.path().join("damaged");
    std::fs::write(&damaged, &bytes).expect("write");
    let msg = refused(&damaged, &tmp.path().join("r"));
    assert!(msg.contains("checksum does not match"), "{msg}");
    assert!(msg.contains("damaged"), "{msg}");
}

#[test]
fn a_truncated_backup_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = small_backup(tmp.path());
    let bytes = std::fs::read(&out).expect("read");
    for keep in [bytes.len() - 1, bytes.len() / 3, 20, 10] {
        let cut = tmp.path().join(format!("cut{keep}"));
        std::fs::write(&cut, &bytes[..keep]).expect("write");
        let msg = refused(&cut, &tmp.path().join("r"));
        assert!(
            msg.contains("cut short") || msg.contains("checksum does not match"),
            "{keep}: {msg}"
        );
    }
}

#[test]
fn other_files_and_non_empty_targets_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let other = tmp.path().join("notes.txt");
    std::fs::write(&other, "just some notes about the clinic\n").expect("write");
    let msg = refused(&other, &tmp.path().join("r"));
    assert!(msg.contains("not an Attach backup"), "{msg}");

    let out = small_backup(tmp.path());
    let busy = tmp.path().join("busy");
    std::fs::create_dir_all(&busy).expect("mkdir");
    std::fs::write(busy.join("x"), "x").expect("write");
    let err = backup::restore(&out, &busy).expect_err("refused");
    assert!(err.to_string().contains("is not empty"), "{err}");
    assert!(busy.join("x").exists());
}

#[test]
fn a_backup_from_a_newer_data_format_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("node");
    let app = open(&dir);
    let out = tmp.path().join("future.attach-backup");
    let future = BackupHeader {
        data_format: attach_store::format::DATA_FORMAT + 1,
        ..header()
    };
    backup::write_backup_file(&out, |w| {
        backup::write_backup(app.doc_store(), &dir, &future, w)?;
        Ok(())
    })
    .expect("backup");
    let msg = refused(&out, &tmp.path().join("r"));
    assert!(msg.contains("newer version of Attach"), "{msg}");
}

#[test]
fn pruning_keeps_the_newest_of_the_role_only() {
    let tmp = tempfile::tempdir().expect("tmp");
    let names = [
        "attach-node-20260101-000000.attach-backup",
        "attach-node-20260102-000000.attach-backup",
        "attach-node-20260103-000000.attach-backup",
        "attach-hub-20250101-000000.attach-backup",
        "notes.txt",
    ];
    for n in names {
        std::fs::write(tmp.path().join(n), "x").expect("write");
    }
    let removed = prune(tmp.path(), "node", 2).expect("prunes");
    assert_eq!(removed, vec![tmp.path().join(names[0])]);
    // Exactly these remain: the node's two newest (2 and 3 January), the hub's backup and
    // the file that is no backup.
    let mut left: Vec<String> = std::fs::read_dir(tmp.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "attach-hub-20250101-000000.attach-backup",
            "attach-node-20260102-000000.attach-backup",
            "attach-node-20260103-000000.attach-backup",
            "notes.txt",
        ]
    );
    // Pruning again keeps the same two.
    assert!(prune(tmp.path(), "node", 2).expect("prunes").is_empty());
}
