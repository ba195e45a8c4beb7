//! The sync benchmark (issue 4): a clinic node catching up with the provincial hub, a new
//! node restoring a clinic, the hub under many clinics, and an idle reconnect. Run with
//!
//! ```text
//! cargo bench -p attach --bench sync
//! ```
//!
//! The hub is the real release `attach hub` process. The node side of each measured sync
//! is a separate process too: this bench binary re-executed as `--sync-child DIR`, which
//! opens the node's data directory with the library (`App::open_at`), connects to the hub
//! over mutual TLS with the node's enrolment credentials and runs one `attach_sync`
//! session with `one_round: true` — the same `StoreReplica`, `HubPolicy` and `Session` the
//! `attach node` background sync runs, minus the web server. Its VmHWM is the node's peak
//! resident memory; the hub's peak is read from `/proc/<hub>/status` (reset with
//! `clear_refs` before each workload).
//!
//! Each workload also gets a NAIVE BASELINE computed in process: ship every changed
//! document whole (`Automerge::save()`), and on the receiving side load it and merge it
//! into the copy it had.
//!
//! Environment: `SYNC_BENCH_PATIENTS` (default 25,000; 0 skips workloads 1, 2 and 4),
//! `SYNC_BENCH_EDITS` (2,000), `SYNC_BENCH_CLINICS` (workload 3: simulated clinics, default
//! 200; 0 skips it), `SYNC_BENCH_CLINIC_PATIENTS` (2,500), `SYNC_BENCH_DAY_EDITS` (300),
//! `SYNC_BENCH_DIR` (default: the system temporary directory), `SYNC_BENCH_KEEP=1`,
//! `SYNC_BENCH_HUB_LOG` (the hub's `ATTACH_LOG` filter; its log is `hub.hub.log` in the data
//! directory, kept with `SYNC_BENCH_KEEP=1`), `SYNC_BENCH_ATTACH` (the `attach` binary to run,
//! default the one cargo built with the bench), `SYNC_BENCH_MODES` (workload 3: one merge per
//! mode listed, each after a new day's edits; `live` (the default): the simulated clinics
//! compute their deltas during the timed merge, `prepared`: before it),
//! `SYNC_BENCH_CLINIC_CACHE_MIB` (each simulated clinic's store cache, default 4). Only
//! workload 3:
//!
//! ```text
//! SYNC_BENCH_PATIENTS=0 SYNC_BENCH_CLINIC_PATIENTS=300 cargo bench -p attach --bench sync
//! ```

/// The same allocator as the `attach` binary, so in-process figures match the node's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use automerge::{Automerge, ChangeHash};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use attach::app::{
    App, AppError, DemoMember, DemoSetup, EntryUpdate, PanelQuery, PanelSort, SystemClock,
};
use attach::demo_data::{self, Rng};
use attach::domain::{
    ClinicId, EntryId, HowAdded, MrpConfirmation, PanelEntry, PatientDetails, PatientStatus, Role,
    UserId,
};
use attach::replication::StoreReplica;
use attach::replication::node::NodeFiles;
use attach::replication::replica::HubPolicy;
use attach::store::DocId;
use attach_sync::tls::{self, Expect};
use attach_sync::{Progress, Session, SessionConfig};

const SEED: u64 = 4_242;
const PROVIDERS: usize = 10;

// Targets.
const TARGET_CATCH_UP: Duration = Duration::from_secs(5);
const TARGET_RESTORE: Duration = Duration::from_secs(20);
const TARGET_MANY: Duration = Duration::from_secs(60);
const TARGET_NODE_RSS_MIB: f64 = 300.0;
const TARGET_HUB_RSS_MIB: f64 = 2048.0;
const TARGET_IDLE_BYTES: u64 = 50_000;

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v}")),
        Err(_) => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--sync-child") {
        let dir = args.get(2).context("--sync-child DIR")?;
        return sync_child(Path::new(dir));
    }
    let patients = env_usize("SYNC_BENCH_PATIENTS", 25_000)?;
    let edits = env_usize("SYNC_BENCH_EDITS", 2_000)?;
    let root = match std::env::var_os("SYNC_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir(),
    }
    .join(format!("attach-sync-bench-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(root.clone());
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let started = Instant::now();
    let mut report = Report::default();
    println!("attach sync benchmark: clinic of {patients} patients, {edits} offline edits");
    println!("data under {}; load average {}", root.display(), loadavg());

    let hub_dir = root.join("hub");
    let hub = Hub::start(&hub_dir)?;
    println!("hub pid {} syncing on {}", hub.child.id(), hub.sync_addr);
    if patients > 0 {
        single_clinic(&root, &hub, patients, edits, &mut report)?;
    }

    // ---- 3. many clinics ----
    let clinics = env_usize("SYNC_BENCH_CLINICS", 200)?;
    if clinics > 0 {
        many_clinics(&root, &hub, clinics, &mut report)?;
    }

    let status = hub.admin(&["status"])?;
    println!("\n`attach hub status` at the end:\n{status}");
    hub.stop()?;
    println!();
    report.print();
    println!(
        "\nwhole run: {:.1} s; load average at the end {}",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    Ok(())
}

/// Workloads 1, 2 and 4: one clinic of `patients` catches up, restores, reconnects idle.
fn single_clinic(
    root: &Path,
    hub: &Hub,
    patients: usize,
    edits: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    // ---- setup: the clinic node's data, seeded in process ----
    let node_dir = root.join("node");
    let clinic = {
        let app = open_app(&node_dir, 32)?;
        let t = Instant::now();
        let clinic = seed_clinic(&app, "V0J2N0", PROVIDERS)?;
        import_patients(&app, &clinic, patients, SEED)?;
        println!(
            "seeded {patients} patients in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        clinic
    };

    let code = hub.enrol_code(&["--facility", "V0J2N0"])?;
    node_enrol(&node_dir, &hub.sync_addr, &code)?;

    // ---- first upload (the whole clinic goes up) ----
    hub.reset_peak()?;
    let up = run_child(&node_dir)?;
    let hub_mem = hub.memory()?;
    report.info(
        "first upload of the whole clinic to the hub",
        format!(
            "{} ({} docs; node→hub {}, hub→node {}; node peak {:.0} MiB, hub peak {:.0} MiB)",
            fmt_s(up.wall_ms),
            up.docs_sent,
            fmt_bytes(up.bytes_sent),
            fmt_bytes(up.bytes_received),
            up.hwm_mib(),
            hub_mem.1
        ),
    );

    // ---- 4. idle reconnect ----
    hub.reset_peak()?;
    let idle = run_child(&node_dir)?;
    let hub_mem = hub.memory()?;
    let idle_total = idle.bytes_sent + idle.bytes_received;
    report.check(
        "4. idle reconnect of the whole clinic: bytes on the wire",
        "< 50 KB",
        format!(
            "{} (node→hub {}, hub→node {}; {}; node peak {:.0} MiB, hub peak {:.0} MiB)",
            fmt_bytes(idle_total),
            fmt_bytes(idle.bytes_sent),
            fmt_bytes(idle.bytes_received),
            fmt_s(idle.wall_ms),
            idle.hwm_mib(),
            hub_mem.1
        ),
        idle_total < TARGET_IDLE_BYTES,
    );
    report.info(
        "4. naive baseline: nothing changed, nothing to send",
        "0 B (but it must know nothing changed: the delta protocol learns it from the feed cursor)"
            .to_owned(),
    );

    // ---- 1. a week offline: edits, then catch up ----
    let week = offline_edits(&open_app(&node_dir, 32)?, &clinic, edits)?;
    report.info(
        "1. the week's edits, made offline in process",
        format!(
            "{} status changes on {} entries in {:.1} s; raw change bytes {}",
            week.edits,
            week.docs,
            week.edit_secs,
            fmt_bytes(week.raw_bytes)
        ),
    );
    hub.reset_peak()?;
    let catch = run_child(&node_dir)?;
    let hub_mem = hub.memory()?;
    report.check(
        "1. node offline a week catches up: wall time",
        "< 5 s",
        format!(
            "{} ({} docs sent; session open→done, plus {} to open the store)",
            fmt_s(catch.wall_ms),
            catch.docs_sent,
            fmt_s(catch.open_ms)
        ),
        catch.wall_ms < TARGET_CATCH_UP.as_millis() as f64,
    );
    report.check(
        "1. bytes node→hub vs raw change bytes",
        "≤ 2×",
        format!(
            "{} = {:.2}× of {} (hub→node {})",
            fmt_bytes(catch.bytes_sent),
            catch.bytes_sent as f64 / week.raw_bytes.max(1) as f64,
            fmt_bytes(week.raw_bytes),
            fmt_bytes(catch.bytes_received)
        ),
        catch.bytes_sent <= 2 * week.raw_bytes,
    );
    report.check(
        "1. peak RSS node / hub",
        "< 300 MB each",
        format!("node {:.0} MiB, hub {:.0} MiB", catch.hwm_mib(), hub_mem.1),
        catch.hwm_mib() < TARGET_NODE_RSS_MIB && hub_mem.1 < TARGET_NODE_RSS_MIB,
    );
    report.info(
        "1. naive baseline: whole saved docs of the changed entries",
        format!(
            "{} = {:.1}× the delta session's bytes; save + load + merge {:.2} s in process",
            fmt_bytes(week.naive_bytes),
            week.naive_bytes as f64 / catch.bytes_sent.max(1) as f64,
            week.naive_secs
        ),
    );
    hub.reset_peak()?;
    let idle2 = run_child(&node_dir)?;
    report.info(
        "4b. idle reconnect right after the catch-up",
        format!(
            "{} (node→hub {}, hub→node {})",
            fmt_bytes(idle2.bytes_sent + idle2.bytes_received),
            fmt_bytes(idle2.bytes_sent),
            fmt_bytes(idle2.bytes_received)
        ),
    );

    // ---- 2. a new node restores the clinic ----
    let code = hub.enrol_code(&["--clinic", &clinic.id.as_uuid().to_string()])?;
    let fresh = root.join("restored");
    node_enrol(&fresh, &hub.sync_addr, &code)?;
    hub.reset_peak()?;
    let restore = run_child(&fresh)?;
    let hub_mem = hub.memory()?;
    report.check(
        "2. new node restores the clinic from the hub: wall time",
        "< 20 s",
        format!(
            "{} ({} docs received, {} panel docs in the store; hub→node {}, node→hub {})",
            fmt_s(restore.wall_ms),
            restore.docs_received,
            restore.panel_docs,
            fmt_bytes(restore.bytes_received),
            fmt_bytes(restore.bytes_sent),
        ),
        restore.wall_ms < TARGET_RESTORE.as_millis() as f64,
    );
    report.info(
        "2. peak RSS restoring node / hub",
        format!(
            "node {:.0} MiB, hub {:.0} MiB",
            restore.hwm_mib(),
            hub_mem.1
        ),
    );
    ensure!(
        restore.panel_docs >= patients,
        "the restored node holds {} panel docs, expected at least {patients}",
        restore.panel_docs
    );
    let naive = naive_restore(&node_dir)?;
    report.info(
        "2. naive baseline: every doc saved whole, loaded on the new node",
        format!(
            "{} in {} docs; save + load {:.2} s in process",
            fmt_bytes(naive.0),
            naive.1,
            naive.2
        ),
    );
    println!("load average {}", loadavg());
    Ok(())
}

// ---- workload 1: the week's edits and the naive baseline ----

struct Week {
    edits: usize,
    docs: usize,
    edit_secs: f64,
    raw_bytes: u64,
    naive_bytes: u64,
    naive_secs: f64,
}

/// Makes `edits` status changes (active ⇄ inactive) spread over the providers' panels,
/// each a durable edit of its own, as people would; then measures the raw change bytes
/// the node holds beyond what it had and the naive baseline.
fn offline_edits(app: &App, clinic: &Clinic, edits: usize) -> anyhow::Result<Week> {
    let store = app.doc_store();
    let per_provider = edits.div_ceil(clinic.providers.len());
    let mut targets: Vec<(UserId, PanelEntry)> = Vec::new();
    for &p in &clinic.providers {
        let mut offset = 0;
        let mut got = 0;
        while got < per_provider {
            let page = app
                .panel_page(
                    p,
                    clinic.id,
                    p,
                    &PanelQuery {
                        status: None,
                        search: None,
                        include_removed: false,
                        sort: PanelSort::Added,
                        offset,
                        limit: 500,
                    },
                )
                .map_err(explain)?;
            ensure!(!page.rows.is_empty(), "panel too small for {edits} edits");
            offset += page.rows.len();
            for row in page.rows {
                if got < per_provider {
                    targets.push((p, row.entry));
                    got += 1;
                }
            }
        }
    }
    targets.truncate(edits);
    // What the hub has of each doc (the node was in sync before going offline).
    let mut before: Vec<(DocId, Vec<ChangeHash>, Vec<u8>)> = Vec::with_capacity(targets.len());
    for (p, e) in &targets {
        let id = attach::schema::entry_doc_id(*p, e.id);
        let heads = store.heads(&id)?;
        let saved = store
            .read(&id, |d| d.save())?
            .context("an entry doc is missing")?;
        before.push((id, heads, saved));
    }
    let t = Instant::now();
    for (p, e) in &targets {
        let status = match e.status {
            PatientStatus::Active => PatientStatus::Inactive,
            _ => PatientStatus::Active,
        };
        app.update_entry(
            *p,
            clinic.id,
            *p,
            e.id,
            EntryUpdate {
                details: None,
                status: Some(status),
                confirm_mrp: false,
            },
        )
        .map_err(explain)?;
    }
    let edit_secs = t.elapsed().as_secs_f64();
    let mut raw_bytes = 0u64;
    for (id, heads, _) in &before {
        let (changes, _) = store.delta(id, heads)?.context("doc vanished")?;
        raw_bytes += changes.iter().map(|c| c.len() as u64).sum::<u64>();
    }
    // Naive: save each changed doc whole, load it and merge it into the old copy.
    let t = Instant::now();
    let mut naive_bytes = 0u64;
    for (id, _, old) in &before {
        let whole = store.read(id, |d| d.save())?.context("doc vanished")?;
        naive_bytes += whole.len() as u64;
        let mut copy = Automerge::load(old)?;
        let mut incoming = Automerge::load(&whole)?;
        copy.merge(&mut incoming)?;
        std::hint::black_box(copy.get_heads());
    }
    let naive_secs = t.elapsed().as_secs_f64();
    Ok(Week {
        edits: targets.len(),
        docs: before.len(),
        edit_secs,
        raw_bytes,
        naive_bytes,
        naive_secs,
    })
}

/// Naive restore: every doc of the node saved whole and loaded on the other side.
/// Returns (bytes, docs, seconds).
fn naive_restore(dir: &Path) -> anyhow::Result<(u64, usize, f64)> {
    let app = open_app(dir, 32)?;
    let store = app.doc_store();
    let mut ids = Vec::new();
    use attach::schema::ids;
    for prefix in [ids::CLINICS, ids::ACCOUNTS, ids::PANELS] {
        ids.extend(store.ids_with_prefix(prefix)?);
    }
    let t = Instant::now();
    let mut bytes = 0u64;
    for id in &ids {
        let whole = store.read(id, |d| d.save())?.context("doc vanished")?;
        bytes += whole.len() as u64;
        std::hint::black_box(Automerge::load(&whole)?.get_heads());
    }
    Ok((bytes, ids.len(), t.elapsed().as_secs_f64()))
}

// ---- workload 3: many clinics, simulated in process ----

/// One simulated clinic: its store open in this process, enrolled with the hub.
struct SimClinic {
    app: App,
    dir: PathBuf,
    clinic: Clinic,
    week: Week,
    /// The hub's node id (from the first upload).
    hub_node: attach_sync::NodeId,
    /// The clinic's feed position before the day's edits.
    before_edits: u64,
}

/// A simulated clinic's store as the sync engine sees it, with the deltas of its day's
/// edits computed before the timed merge (mode `prepared`). A real clinic computes
/// them on its own machine; here the 200 clinics would otherwise compute them on the hub's
/// two cores while it merges. Any other call, or a delta asked with other heads than the
/// ones prepared, goes to the store as usual.
struct Prepared {
    inner: StoreReplica,
    deltas: std::collections::HashMap<String, (Vec<attach_sync::wire::Hash>, attach_sync::Delta)>,
}

impl Prepared {
    fn new(c: &SimClinic) -> anyhow::Result<Self> {
        use attach_sync::Replica;
        let inner = StoreReplica::new(c.app.clone())?;
        let mut deltas = std::collections::HashMap::new();
        for (_, doc) in inner.changed_since(c.before_edits, usize::MAX)? {
            let have = inner
                .shared_heads(c.hub_node, std::slice::from_ref(&doc))?
                .pop()
                .unwrap_or_default();
            if let Some(delta) = inner.delta(&doc, &have)? {
                deltas.insert(doc, (have, delta));
            }
        }
        Ok(Self { inner, deltas })
    }
}

impl attach_sync::Replica for Prepared {
    fn node_id(&self) -> attach_sync::NodeId {
        self.inner.node_id()
    }
    fn feed_position(&self) -> Result<u64, attach_sync::ReplicaError> {
        self.inner.feed_position()
    }
    fn changed_since(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, attach_sync::ReplicaError> {
        self.inner.changed_since(after, limit)
    }
    fn delta(
        &self,
        doc: &str,
        have: &[attach_sync::wire::Hash],
    ) -> Result<Option<attach_sync::Delta>, attach_sync::ReplicaError> {
        match self.deltas.get(doc) {
            Some((prepared_for, delta)) if prepared_for == have => Ok(Some(delta.clone())),
            _ => self.inner.delta(doc, have),
        }
    }
    fn heads(&self, doc: &str) -> Result<Vec<attach_sync::wire::Hash>, attach_sync::ReplicaError> {
        self.inner.heads(doc)
    }
    fn apply(
        &self,
        docs: Vec<(String, Vec<automerge::Change>)>,
    ) -> Vec<Result<(), attach_sync::ApplyError>> {
        self.inner.apply(docs)
    }
    fn resume_point(&self, peer: attach_sync::NodeId) -> Result<u64, attach_sync::ReplicaError> {
        self.inner.resume_point(peer)
    }
    fn set_resume_point(
        &self,
        peer: attach_sync::NodeId,
        upto: u64,
    ) -> Result<(), attach_sync::ReplicaError> {
        self.inner.set_resume_point(peer, upto)
    }
    fn shared_heads(
        &self,
        peer: attach_sync::NodeId,
        docs: &[String],
    ) -> Result<Vec<Vec<attach_sync::wire::Hash>>, attach_sync::ReplicaError> {
        self.inner.shared_heads(peer, docs)
    }
    fn add_shared_heads(
        &self,
        peer: attach_sync::NodeId,
        heads: &[(String, Vec<attach_sync::wire::Hash>)],
    ) -> Result<(), attach_sync::ReplicaError> {
        self.inner.add_shared_heads(peer, heads)
    }
}

/// Sets up `n` small clinics (seeded, enrolled, first upload done, then a day's edits made
/// offline), then syncs all of them with the hub at once and measures until every session
/// has completed its round (the hub has durably applied and acknowledged every batch).
fn many_clinics(root: &Path, hub: &Hub, n: usize, report: &mut Report) -> anyhow::Result<()> {
    let patients = env_usize("SYNC_BENCH_CLINIC_PATIENTS", 2_500)?;
    let edits = env_usize("SYNC_BENCH_DAY_EDITS", 300)?;
    ensure!(edits <= patients, "more day edits than patients");
    let threads = env_usize("SYNC_BENCH_SETUP_THREADS", 3)?;
    println!("workload 3: {n} clinics of {patients} patients, {edits} edits each; setting up");
    let t = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out = parking_lot::Mutex::new(Vec::<SimClinic>::new());
    let failed = parking_lot::Mutex::new(None::<anyhow::Error>);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        *failed.lock() = Some(e.into());
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n || failed.lock().is_some() {
                        return;
                    }
                    match sim_clinic(&rt, root, hub, i, patients, edits) {
                        Ok(c) => {
                            let mut v = out.lock();
                            v.push(c);
                            if v.len() % 20 == 0 {
                                println!(
                                    "  {} clinics ready after {:.0} s",
                                    v.len(),
                                    t.elapsed().as_secs_f64()
                                );
                            }
                        }
                        Err(e) => {
                            *failed.lock() = Some(e.context(format!("simulated clinic {i}")));
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    let clinics = out.into_inner();
    let setup_secs = t.elapsed().as_secs_f64();
    let raw: u64 = clinics.iter().map(|c| c.week.raw_bytes).sum();
    let total_edits: usize = clinics.iter().map(|c| c.week.edits).sum();
    report.info(
        "3. setup of the simulated clinics (seed, enrol, first upload, a day's edits)",
        format!(
            "{n} clinics × {patients} patients in {setup_secs:.0} s; {total_edits} edits, raw change bytes {}",
            fmt_bytes(raw)
        ),
    );
    // One merge per mode listed, each after a new day's edits (the first uses the setup's).
    let modes = std::env::var("SYNC_BENCH_MODES").unwrap_or_else(|_| "live".to_owned());
    let mut clinics = clinics;
    for (day, mode) in modes.split(',').enumerate() {
        let prepared = match mode.trim() {
            "live" => false,
            "prepared" => true,
            other => bail!("SYNC_BENCH_MODES: {other:?} is neither live nor prepared"),
        };
        if day > 0 {
            let t = Instant::now();
            another_day(&mut clinics, edits, threads)?;
            println!(
                "day {}: {edits} more edits in each clinic in {:.0} s",
                day + 1,
                t.elapsed().as_secs_f64()
            );
        }
        merge_all(hub, &clinics, prepared, report)?;
    }
    Ok(())
}

/// A new day's edits in every clinic, made offline, `threads` clinics at a time.
fn another_day(clinics: &mut [SimClinic], edits: usize, threads: usize) -> anyhow::Result<()> {
    let per_thread = clinics.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = clinics
            .chunks_mut(per_thread)
            .map(|chunk| {
                s.spawn(move || -> anyhow::Result<()> {
                    for c in chunk {
                        c.before_edits = c.app.doc_store().feed_position();
                        c.week = offline_edits(&c.app, &c.clinic, edits)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("an edit thread panicked"))??;
        }
        Ok(())
    })
}

/// Every clinic syncs its day's edits with the hub at once; measured until every session has
/// completed its round (the hub durably applied and acknowledged every batch).
fn merge_all(
    hub: &Hub,
    clinics: &[SimClinic],
    prepared: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let n = clinics.len();
    let raw: u64 = clinics.iter().map(|c| c.week.raw_bytes).sum();
    let naive_bytes: u64 = clinics.iter().map(|c| c.week.naive_bytes).sum();
    let naive_secs: f64 = clinics.iter().map(|c| c.week.naive_secs).sum();
    let bench_before = proc_status_kib(std::process::id(), "VmHWM:")? as f64 / 1024.0;
    println!("load average {}", loadavg());

    // The simulated clinics' side of the merge, which real clinics do on their own machines:
    // in `prepared` mode their deltas are computed before the clock starts; in both modes
    // their store calls are bounded together, two per core, as one node's sessions are.
    let t = Instant::now();
    let mut replicas: Vec<Arc<dyn attach_sync::Replica>> = Vec::with_capacity(clinics.len());
    for c in clinics {
        replicas.push(if prepared {
            Arc::new(Prepared::new(c)?)
        } else {
            Arc::new(StoreReplica::new(c.app.clone())?)
        });
    }
    if prepared {
        println!(
            "prepared the clinics' deltas in {:.1} s (not timed)",
            t.elapsed().as_secs_f64()
        );
    }
    let clinic_calls = attach_sync::StoreCalls::per_core();

    // Measured: every clinic syncs at once.
    hub.reset_peak()?;
    let cpu_before = (cpu_secs(hub.child.id())?, cpu_secs(std::process::id())?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let t = Instant::now();
    let results: Vec<anyhow::Result<(f64, attach_sync::ProgressState)>> = rt.block_on(async {
        let mut tasks = Vec::new();
        for (c, replica) in clinics.iter().zip(replicas) {
            let app = c.app.clone();
            let dir = c.dir.clone();
            let started = t;
            let calls = clinic_calls.clone();
            tasks.push(tokio::spawn(async move {
                let (creds, hub) = NodeFiles::new(&dir).load()?.context("not enrolled")?;
                let progress = Arc::new(Progress::default());
                one_round(&app, replica, &creds, &hub, progress.clone(), calls).await?;
                anyhow::Ok((started.elapsed().as_secs_f64(), progress.snapshot()))
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(match task.await {
                Ok(r) => r,
                Err(e) => Err(e.into()),
            });
        }
        out
    });
    let wall = t.elapsed();
    let hub_cpu = cpu_secs(hub.child.id())? - cpu_before.0;
    let clinics_cpu = cpu_secs(std::process::id())? - cpu_before.1;
    let load_after = loadavg();
    let hub_mem = hub.memory()?;
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut docs = 0u64;
    let mut docs_back = 0u64;
    let mut refused = 0usize;
    let mut finish = Vec::new();
    for r in results {
        let (at, p) = r?;
        sent += p.bytes_sent;
        received += p.bytes_received;
        docs += p.docs_sent;
        docs_back += p.docs_received;
        refused += p.refused.len();
        finish.push(at);
    }
    finish.sort_by(f64::total_cmp);
    let median = finish.get(finish.len() / 2).copied().unwrap_or_default();
    let mode = if prepared {
        "clinics' deltas prepared before the clock"
    } else {
        "clinics compute their deltas during the merge"
    };
    report.check(
        &format!("3. hub merges a day's edits from every clinic at once: wall time ({mode})"),
        "< 60 s",
        format!(
            "{:.2} s for {n} sessions ({docs} docs; median session done at {median:.2} s; nodes→hub {} = {:.2}× raw, hub→nodes {} with {docs_back} docs; {refused} refusals)",
            wall.as_secs_f64(),
            fmt_bytes(sent),
            sent as f64 / raw.max(1) as f64,
            fmt_bytes(received)
        ),
        wall < TARGET_MANY,
    );
    report.info(
        "3. CPU time during the merge (user + system)",
        format!(
            "hub {hub_cpu:.1} s, the {n} simulated clinics {clinics_cpu:.1} s, of {:.1} core-seconds of wall time on {} cores; load average at the end {load_after}",
            wall.as_secs_f64() * cores() as f64,
            cores()
        ),
    );
    report.check(
        "3. hub peak RSS during the merge",
        "< 2 GB",
        format!(
            "{:.0} MiB (VmRSS after {:.0} MiB); bench process with the {n} simulated clinics: VmHWM {:.0} MiB (before the merge {bench_before:.0} MiB)",
            hub_mem.1,
            hub_mem.0,
            proc_status_kib(std::process::id(), "VmHWM:")? as f64 / 1024.0
        ),
        hub_mem.1 < TARGET_HUB_RSS_MIB,
    );
    report.info(
        "3. naive baseline: whole saved docs of every edited entry",
        format!(
            "{} = {:.1}× the delta sessions' bytes; save + load + merge {naive_secs:.2} s in process",
            fmt_bytes(naive_bytes),
            naive_bytes as f64 / sent.max(1) as f64
        ),
    );
    println!("load average {}", loadavg());
    Ok(())
}

fn sim_clinic(
    rt: &tokio::runtime::Runtime,
    root: &Path,
    hub: &Hub,
    i: usize,
    patients: usize,
    edits: usize,
) -> anyhow::Result<SimClinic> {
    let dir = root.join("many").join(format!("c{i:03}"));
    // 4 MiB keeps 200 stores in memory; a node's own default (32) made the simulated
    // clinics no cheaper. sled's background flusher is off: 200 of them in one process
    // (one per store) took about a core between them, on the hub's two, while a real
    // clinic's one flusher runs on the clinic's machine. Durability does not depend on it.
    let cache = env_usize("SYNC_BENCH_CLINIC_CACHE_MIB", 4)?;
    let app = App::open_with_options(
        &dir,
        attach::store::StoreOptions {
            cache_capacity_bytes: cache as u64 * 1024 * 1024,
            flush_every_ms: None,
            ..attach::store::StoreOptions::default()
        },
        30,
        Arc::new(SystemClock),
    )
    .context("opening the data directory")?;
    let facility = format!("SIM{i:05}");
    let clinic = seed_clinic(&app, &facility, 1)?;
    import_patients(&app, &clinic, patients, SEED + i as u64)?;
    let code = hub.enrol_code(&["--facility", &facility])?;
    let files = NodeFiles::new(&dir);
    let node = uuid::Uuid::from_bytes(app.doc_store().node_id().0);
    rt.block_on(attach::replication::node::enrol(
        &files,
        &hub.sync_addr,
        &code,
        node,
        Some(clinic.id.as_uuid()),
    ))?;
    let (creds, addr) = files.load()?.context("not enrolled")?;
    let progress = Arc::new(Progress::default());
    rt.block_on(one_round(
        &app,
        Arc::new(StoreReplica::new(app.clone())?),
        &creds,
        &addr,
        progress.clone(),
        attach_sync::StoreCalls::per_core(),
    ))?;
    let hub_node = progress
        .snapshot()
        .peer
        .context("the hub did not say hello")?;
    let before_edits = app.doc_store().feed_position();
    let week = offline_edits(&app, &clinic, edits)?;
    Ok(SimClinic {
        app,
        dir,
        clinic,
        week,
        hub_node,
        before_edits,
    })
}

// ---- the node side of a sync, as a child process ----

#[derive(Serialize, Deserialize, Debug)]
struct ChildResult {
    open_ms: f64,
    wall_ms: f64,
    bytes_sent: u64,
    bytes_received: u64,
    docs_sent: u64,
    docs_received: u64,
    hwm_kib: u64,
    panel_docs: usize,
}

impl ChildResult {
    fn hwm_mib(&self) -> f64 {
        self.hwm_kib as f64 / 1024.0
    }
}

fn sync_child(dir: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let t = Instant::now();
    let app = open_app(dir, 32)?;
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    let (creds, hub) = NodeFiles::new(dir).load()?.context("node not enrolled")?;
    let replica = StoreReplica::new(app.clone())?;
    let progress = Arc::new(Progress::default());
    let t = Instant::now();
    runtime.block_on(one_round(
        &app,
        Arc::new(replica),
        &creds,
        &hub,
        progress.clone(),
        attach_sync::StoreCalls::per_core(),
    ))?;
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    let p = progress.snapshot();
    let panel_docs = app.doc_store().ids_with_prefix("panel/")?.len();
    let result = ChildResult {
        open_ms,
        wall_ms,
        bytes_sent: p.bytes_sent,
        bytes_received: p.bytes_received,
        docs_sent: p.docs_sent,
        docs_received: p.docs_received,
        hwm_kib: proc_status_kib(std::process::id(), "VmHWM:")?,
        panel_docs,
    };
    println!("SYNC-RESULT {}", serde_json::to_string(&result)?);
    Ok(())
}

/// One round of sync with the hub, exactly as the node's background sync connects.
async fn one_round(
    app: &App,
    replica: Arc<dyn attach_sync::Replica>,
    creds: &attach_sync::Credentials,
    hub: &str,
    progress: Arc<Progress>,
    store_calls: attach_sync::StoreCalls,
) -> anyhow::Result<()> {
    let config = tls::client_config(creds, Expect::Hub)?;
    let tcp = TcpStream::connect(hub).await?;
    tcp.set_nodelay(true)?;
    let stream = TlsConnector::from(config)
        .connect(tls::server_name(), tcp)
        .await?;
    let session = Session {
        replica,
        policy: Arc::new(HubPolicy { app: app.clone() }),
        feed: app.doc_store().subscribe_feed(),
        progress: progress.clone(),
        config: SessionConfig {
            one_round: true,
            store_calls,
            ..SessionConfig::default()
        },
        expect_peer: None,
    };
    // A `one_round` session ends only when both sides said Bye, and the hub (not one-round)
    // never does; so the round is complete when our last batch of the round was acknowledged
    // (the hub applied it durably; acks come in order) and the hub's round was applied here.
    let task = tokio::spawn(session.run(stream));
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let p = progress.snapshot();
        if p.rounds_sent >= 1 && p.rounds_received >= 1 {
            task.abort();
            return Ok(());
        }
        if task.is_finished() {
            task.await??;
            bail!("the session ended before completing a round");
        }
        ensure!(Instant::now() < deadline, "no complete round in 600 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn run_child(dir: &Path) -> anyhow::Result<ChildResult> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--sync-child")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "sync child failed: {text}");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("SYNC-RESULT "))
        .context("no SYNC-RESULT from the child")?;
    Ok(serde_json::from_str(line)?)
}

fn node_enrol(dir: &Path, hub: &str, code: &str) -> anyhow::Result<()> {
    let out = attach_cmd()
        .args(["node", "enrol", "--data-dir"])
        .arg(dir)
        .args(["--hub", hub, "--code", code])
        .output()?;
    ensure!(
        out.status.success(),
        "attach node enrol: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn attach_cmd() -> Command {
    // A copy of another build's binary, to compare two builds with one bench binary each.
    let attach = std::env::var_os("SYNC_BENCH_ATTACH").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_attach")),
        PathBuf::from,
    );
    let mut command = Command::new(attach);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ATTACH_") {
            command.env_remove(name);
        }
    }
    command
}

// ---- the hub process ----

struct Hub {
    child: Child,
    dir: PathBuf,
    sync_addr: String,
}

impl Hub {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let log = std::fs::File::create(dir.with_extension("hub.log"))?;
        let mut command = attach_cmd();
        if let Some(filter) = std::env::var_os("SYNC_BENCH_HUB_LOG") {
            command.env("ATTACH_LOG", filter);
        }
        let mut child = command
            .args(["hub", "--data-dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--sync-listen", "127.0.0.1:0"])
            .args(["--web-listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout);
        let mut sync_addr = None;
        let mut admin = false;
        let deadline = Instant::now() + Duration::from_secs(60);
        while (sync_addr.is_none() || !admin) && Instant::now() < deadline {
            let mut line = String::new();
            if lines.read_line(&mut line)? == 0 {
                bail!("the hub exited before listening");
            }
            if let Some(a) = line.trim().strip_prefix("Attach hub sync listening on ") {
                sync_addr = Some(a.to_owned());
            }
            if line.starts_with("Attach hub admin API on") {
                admin = true;
            }
        }
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = lines.read_to_end(&mut sink);
        });
        Ok(Self {
            child,
            dir: dir.to_owned(),
            sync_addr: sync_addr.context("no sync address from the hub")?,
        })
    }

    fn admin(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = attach_cmd()
            .arg("hub")
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .output()?;
        ensure!(
            out.status.success(),
            "attach hub {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn enrol_code(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["enrol-clinic"];
        all.extend_from_slice(args);
        let out = self.admin(&all)?;
        out.lines()
            .find_map(|l| l.strip_prefix("Enrolment code:"))
            .map(|c| c.trim().to_owned())
            .context("no enrolment code printed")
    }

    /// Resets the peak resident size (VmHWM) to the current one.
    fn reset_peak(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .context("resetting the hub's VmHWM")
    }

    /// (VmRSS, VmHWM) in MiB.
    fn memory(&self) -> anyhow::Result<(f64, f64)> {
        let id = self.child.id();
        Ok((
            proc_status_kib(id, "VmRSS:")? as f64 / 1024.0,
            proc_status_kib(id, "VmHWM:")? as f64 / 1024.0,
        ))
    }

    fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!("the hub did not stop within 20 s of SIGTERM")
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("bad /proc line")?
        .parse()?)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// CPU seconds (user + system, all threads) the process has used so far.
fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3, `state`.
    let rest = stat.rsplit_once(')').context("bad /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).context("no utime")?.parse::<u64>()?
        + fields.get(12).context("no stime")?.parse::<u64>()?;
    let per_sec = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    Ok(ticks as f64 / per_sec)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---- seeding (as in benches/clinic.rs) ----

fn explain(e: AppError) -> anyhow::Error {
    match e {
        AppError::Invalid { message, problems } => {
            let list: Vec<String> = problems
                .iter()
                .take(10)
                .map(|p| format!("row {:?}, {}: {}", p.row, p.field, p.message))
                .collect();
            anyhow::anyhow!("{message}: {}", list.join("; "))
        }
        other => other.into(),
    }
}

struct Clinic {
    id: ClinicId,
    director: UserId,
    providers: Vec<UserId>,
}

fn provider_name(p: usize) -> String {
    format!("provider{:02}", p + 1)
}

fn password(username: &str) -> String {
    format!("bench-{username}-password")
}

fn open_app(dir: &Path, cache_mib: u64) -> anyhow::Result<App> {
    App::open_at(dir, cache_mib as _, 30, Arc::new(SystemClock))
        .context("opening the data directory")
}

/// A clinic with a director and `providers` physicians.
fn seed_clinic(app: &App, facility: &str, providers: usize) -> anyhow::Result<Clinic> {
    let mut members = vec![member("director", "Bench Director", Role::Director)];
    for p in 0..providers {
        members.push(member(
            &provider_name(p),
            &format!("Provider {}", p + 1),
            Role::Physician,
        ));
    }
    let setup = DemoSetup {
        clinic_name: "Benchmark Family Practice".to_owned(),
        facility_number: facility.to_owned(),
        members,
        patients: Vec::new(),
        seed: SEED,
        clinical_records: false,
    };
    ensure!(
        app.seed_demo(&setup)?,
        "the data directory already held a clinic"
    );
    let signed_in = app.login("director", &password("director"))?;
    let director = signed_in.session.user;
    let id = signed_in
        .session
        .memberships
        .first()
        .context("the director has no clinic")?
        .clinic;
    let all = app.members(director, id)?;
    let providers = (0..providers)
        .map(|p| {
            let name = provider_name(p);
            all.iter()
                .find(|m| m.username == name)
                .map(|m| m.membership.user)
                .with_context(|| format!("{name} is not a member"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Clinic {
        id,
        director,
        providers,
    })
}

fn member(username: &str, name: &str, role: Role) -> DemoMember {
    DemoMember {
        username: username.to_owned(),
        password: password(username),
        display_name: name.to_owned(),
        role,
    }
}

/// `count` synthetic patients spread evenly over the providers, imported as CSV.
fn import_patients(app: &App, clinic: &Clinic, count: usize, seed: u64) -> anyhow::Result<()> {
    let today = OffsetDateTime::now_utc().date();
    let mut patients = demo_data::patients(seed, count, today);
    for p in &mut patients {
        if p.last_visit.is_some_and(|v| v < p.date_of_birth) {
            p.last_visit = None;
        }
    }
    let n = clinic.providers.len();
    for (p, csv) in panel_files(clinic, &patients, seed).iter().enumerate() {
        let provider = clinic.providers[p];
        let r = app
            .import_panel(provider, clinic.id, provider, false, csv)
            .map_err(explain)
            .with_context(|| format!("importing provider {p}'s CSV"))?;
        ensure!(r.added == count / n, "provider {p}: {r:?}");
    }
    Ok(())
}

fn panel_files(clinic: &Clinic, patients: &[PatientDetails], seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let now = OffsetDateTime::now_utc();
    let n = clinic.providers.len();
    let mut panels: Vec<Vec<PanelEntry>> = vec![Vec::new(); n];
    for (i, details) in patients.iter().enumerate() {
        let p = i % n;
        let provider = clinic.providers[p];
        panels[p].push(PanelEntry {
            id: EntryId::new(),
            provider,
            clinic: clinic.id,
            details: details.clone(),
            status: if rng.chance(80) {
                PatientStatus::Active
            } else {
                PatientStatus::Inactive
            },
            mrp: rng.chance(70).then_some(MrpConfirmation {
                at: now,
                by: provider,
                how: None,
            }),
            added_at: now,
            added_by: clinic.director,
            how_added: HowAdded::CsvUpload,
            review: Default::default(),
            removed: None,
        });
    }
    panels
        .iter()
        .map(|entries| attach::interop::csv::write_panel_csv(entries, &|_| String::new()))
        .collect()
}

// ---- formatting and the report ----

fn fmt_s(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

fn fmt_bytes(b: u64) -> String {
    if b < 10_000 {
        format!("{b} B")
    } else if b < 10_000_000 {
        format!("{:.1} KB", b as f64 / 1000.0)
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

#[derive(Default)]
struct Report {
    rows: Vec<(String, String, String, Option<bool>)>,
}

impl Report {
    fn check(&mut self, what: &str, target: &str, measured: String, pass: bool) {
        println!(
            "{}  {what}: {measured}  [target {target}]",
            if pass { "PASS" } else { "FAIL" }
        );
        self.rows
            .push((what.to_owned(), target.to_owned(), measured, Some(pass)));
    }

    fn info(&mut self, what: &str, measured: String) {
        println!("info  {what}: {measured}");
        self.rows
            .push((what.to_owned(), "—".to_owned(), measured, None));
    }

    fn print(&self) {
        println!("| figure | target | measured | result |");
        println!("|---|---|---|---|");
        for (what, target, measured, pass) in &self.rows {
            let result = match pass {
                Some(true) => "PASS",
                Some(false) => "**FAIL**",
                None => "",
            };
            println!("| {what} | {target} | {measured} | {result} |");
        }
        println!(
            "\n{} of {} targets met",
            self.rows.iter().filter(|r| r.3 == Some(true)).count(),
            self.rows.iter().filter(|r| r.3.is_some()).count()
        );
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if std::env::var_os("SYNC_BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
