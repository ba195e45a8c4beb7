//! Crash test of the DocStore: a writer child process is killed with SIGKILL at random points;
//! after every kill the store must reopen, every document must load, and every write the child
//! acknowledged must be there (a `change_many` entirely or not at all).
//!
//! The child is this test binary itself, re-executed to run `crash_child` with
//! `ATTACH_CRASH_CHILD=<dir>`; without that variable `crash_child` returns at once.

#![allow(clippy::unwrap_used)] // Test code (helpers outside #[test] fns too): a failed unwrap is a failed test.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use attach::store::{DocId, DocStore, Projector, StoreOptions};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

const CHILD_ENV: &str = "ATTACH_CRASH_CHILD";
const SEED_ENV: &str = "ATTACH_CRASH_SEED";
const ROUNDS: u64 = 60;
const THREADS: u32 = 2;
const DOCS_PER_THREAD: u32 = 12;

/// Projects the root key `v`.
struct ValueProjector;

impl Projector for ValueProjector {
    fn version(&self) -> u32 {
        1
    }
    fn project(&self, _id: &DocId, doc: &Automerge) -> Vec<u8> {
        get(doc, "v").unwrap_or_default().into_bytes()
    }
    fn committed(&self, _id: &DocId, _projection: &[u8]) {}
}

fn get(doc: &Automerge, key: &str) -> Option<String> {
    doc.get(ROOT, key).ok()??.0.into_string().ok()
}

fn options() -> StoreOptions {
    StoreOptions {
        // Compact often so that kills also land while snapshots replace chunks.
        compact_after_chunks: 6,
        ..StoreOptions::default()
    }
}

fn doc(thread: u32, n: u32) -> DocId {
    DocId::parse(&format!("panel/crash/t{thread}-{n}")).unwrap()
}

/// The writer: runs until killed. Each write puts key `<value>` and sets `v` = value; a line
/// `TRY <thread> <docs,> <value>` precedes each call and `ACK <thread> <docs,> <value>` follows it.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let seed: u64 = std::env::var(SEED_ENV).unwrap().parse().unwrap();
    let store = DocStore::open(Path::new(&dir), options(), Arc::new(ValueProjector)).unwrap();
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let say = |line: String| {
        let mut out = out.lock().unwrap();
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let store = store.clone();
            let say = &say;
            s.spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed * 31 + u64::from(t));
                let user = Uuid::from_u128(u128::from(t) + 1);
                for i in 0.. {
                    let value = format!("s{seed}-t{t}-{i}");
                    let ids: Vec<DocId> = if rng.gen_bool(0.7) {
                        vec![doc(t, rng.gen_range(0..DOCS_PER_THREAD))]
                    } else {
                        let n = rng.gen_range(2..=5);
                        let set: BTreeSet<u32> =
                            (0..n).map(|_| rng.gen_range(0..DOCS_PER_THREAD)).collect();
                        set.into_iter().map(|n| doc(t, n)).collect()
                    };
                    let names: Vec<&str> = ids.iter().map(DocId::as_str).collect();
                    let names = names.join(",");
                    say(format!("TRY {t} {names} {value}"));
                    let write = |tx: &mut automerge::transaction::Transaction<'_>| {
                        tx.put(ROOT, value.as_str(), true)?;
                        tx.put(ROOT, "v", value.as_str())
                    };
                    if ids.len() == 1 {
                        store.change(&ids[0], user, "crash test", write).unwrap();
                    } else {
                        store
                            .change_many(user, "crash test batch", &ids, |_, tx| write(tx))
                            .unwrap();
                    }
                    say(format!("ACK {t} {names} {value}"));
                }
            });
        }
    });
}

#[derive(Debug, Default)]
struct Expect {
    /// Every acknowledged value per doc (each must be present as a key).
    acked: BTreeMap<String, Vec<String>>,
    /// The value of `v` per doc, as verified after the previous round.
    current: BTreeMap<String, String>,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = TempDir(std::env::temp_dir().join(format!("attach-crash-{}", Uuid::new_v4())));
    let exe = std::env::current_exe().unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed_2024);
    let mut expect = Expect::default();
    let start = Instant::now();
    let mut total_acks = 0;
    for round in 0..ROUNDS {
        let delay = Duration::from_millis(rng.gen_range(1..=150));
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &dir.0)
            .env(SEED_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        // tidy: allow sleep — the kill lands at a seeded random moment of the writer's run;
        // nothing is waited for.
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: the child exited by itself"
        );
        let lines = reader.join().unwrap();
        total_acks += verify_round(&dir.0, round, &lines, &mut expect);
    }
    let took = start.elapsed();
    println!("{ROUNDS} kills, {total_acks} acknowledged writes verified in {took:?}");
    assert!(
        total_acks > 200,
        "too few writes acknowledged ({total_acks}) to mean much"
    );
}

/// Reopen the store and check the round's outcome; returns the number of ACKs seen.
fn verify_round(dir: &Path, round: u64, lines: &[String], expect: &mut Expect) -> usize {
    // Per thread: the call in flight when the kill came (TRY without ACK).
    let mut in_flight: BTreeMap<&str, (Vec<&str>, &str)> = BTreeMap::new();
    // Per doc: the last value acknowledged this round.
    let mut last_ack: BTreeMap<&str, &str> = BTreeMap::new();
    let mut acks = 0;
    for line in lines {
        // libtest prints "test crash_child ... " without a newline before the child's
        // first line, so a record may start mid-line.
        let start = ["TRY ", "ACK "]
            .iter()
            .filter_map(|tag| line.find(tag))
            .min()
            .unwrap_or(0);
        let parts: Vec<&str> = line[start..].split(' ').collect();
        match parts.as_slice() {
            ["TRY", t, docs, value] => {
                in_flight.insert(t, (docs.split(',').collect(), value));
            }
            ["ACK", t, docs, value] => {
                in_flight.remove(t);
                acks += 1;
                for d in docs.split(',') {
                    last_ack.insert(d, value);
                    expect
                        .acked
                        .entry(d.to_owned())
                        .or_default()
                        .push((*value).to_owned());
                }
            }
            _ => {}
        }
    }

    let store = DocStore::open(dir, options(), Arc::new(ValueProjector))
        .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
    // Every document loads.
    let ids = store.ids_with_prefix("").unwrap();
    for id in &ids {
        store
            .read(id, |_| ())
            .unwrap_or_else(|e| panic!("round {round}: {id} does not load: {e}"));
    }
    // Every acknowledged write is there.
    for (d, values) in &expect.acked {
        let id = DocId::parse(d).unwrap();
        let (keys, v) = store
            .read(&id, |doc| {
                let keys: BTreeSet<String> = doc.keys(ROOT).collect();
                (keys, get(doc, "v"))
            })
            .unwrap()
            .unwrap_or_else(|| panic!("round {round}: acknowledged doc {d} is missing"));
        for value in values {
            assert!(
                keys.contains(value),
                "round {round}: {d} lost acknowledged {value}"
            );
        }
        let v = v.unwrap();
        // `v` is the last acknowledged value, or the write in flight at the kill, or (if the
        // doc was not written this round) what it was after the previous round.
        let in_flight_value = in_flight
            .values()
            .find(|(docs, _)| docs.contains(&d.as_str()))
            .map(|(_, value)| *value);
        let allowed: Vec<&str> = match last_ack.get(d.as_str()) {
            Some(acked) => vec![*acked],
            None => expect
                .current
                .get(d)
                .map(String::as_str)
                .into_iter()
                .collect(),
        }
        .into_iter()
        .chain(in_flight_value)
        .collect();
        assert!(
            allowed.contains(&v.as_str()),
            "round {round}: {d} has v={v}, expected one of {allowed:?}; child said {lines:?}"
        );
        // The projection was written in the same batch as the change.
        assert_eq!(
            store.projection(&id).unwrap().unwrap(),
            v.as_bytes(),
            "round {round}: projection of {d} is stale"
        );
        expect.current.insert(d.clone(), v);
    }
    // A batch in flight is all-or-nothing.
    for (docs, value) in in_flight.values() {
        let present: Vec<bool> = docs
            .iter()
            .map(|d| {
                store
                    .read(&DocId::parse(d).unwrap(), |doc| {
                        doc.get(ROOT, *value).unwrap().is_some()
                    })
                    .unwrap()
                    .unwrap_or(false)
            })
            .collect();
        assert!(
            present.iter().all(|p| *p) || present.iter().all(|p| !*p),
            "round {round}: batch {value} partly applied: {present:?}"
        );
    }
    acks
}
