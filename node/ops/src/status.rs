//! `attach status`: is the node or hub of a data directory running, how big is its data,
//! when did it last sync, what is waiting to go up, when does its certificate expire.
//! Reads the running process's overview from its admin listener, and the rest from files,
//! so it works (and says so) when the service is stopped.

use std::fmt::Write as _;
use std::path::Path;

use attach_sync::pki::Credentials;
use time::OffsetDateTime;

use super::OpsError;
use super::admin::Overview;

/// A certificate's subject and the end of its validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertExpiry {
    pub what: &'static str,
    pub not_after: OffsetDateTime,
}

/// The certificates in `data_dir` that stop sync when they expire: a node's certificate, or
/// the hub's server certificate and CA.
pub fn certificates(data_dir: &Path) -> Vec<CertExpiry> {
    let mut out = Vec::new();
    let mut add = |what: &'static str, dir: &Path, ca: bool| {
        let Ok(Some(creds)) = Credentials::load(dir) else {
            return;
        };
        let der = if ca { creds.ca_der() } else { creds.cert_der() };
        if let Some(not_after) = der.ok().and_then(|der| not_after(&der)) {
            out.push(CertExpiry { what, not_after });
        }
    };
    if super::role(data_dir) == "hub" {
        let server = data_dir.join("hub").join("server");
        add("hub server certificate", &server, false);
        add("hub CA certificate", &server, true);
    } else {
        add("node certificate", &data_dir.join("sync"), false);
    }
    out
}

fn not_after(der: &[u8]) -> Option<OffsetDateTime> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.to_datetime())
}

/// Bytes used by every file under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// Human-readable bytes (MB are 10^6 bytes, as disks are sold).
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.1} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

fn ago(then: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (now - then).whole_seconds();
    match secs {
        s if s < 0 => "in the future (check the clocks)".to_owned(),
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

fn date(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The report `attach status` prints. `overview` is the running process's answer, `None`
/// when it is not running.
pub fn report(data_dir: &Path, overview: Option<&Overview>, now: OffsetDateTime) -> String {
    let mut out = String::new();
    let role = super::role(data_dir);
    let format = match attach_store::format::read(data_dir) {
        Ok(Some(v)) => format!("data format {v}"),
        Ok(None) => "no data yet".to_owned(),
        Err(e) => e.to_string(),
    };
    let _ = writeln!(
        out,
        "Attach {role}, data directory {} ({format}, {} on disk)",
        data_dir.display(),
        human_bytes(dir_size(data_dir))
    );
    match overview {
        None => {
            let _ = writeln!(
                out,
                "Service:      NOT RUNNING (nothing answers on its admin listener)"
            );
        }
        Some(o) => {
            let _ = writeln!(
                out,
                "Service:      running, version {}, up since {} ({})",
                o.version,
                date(o.started),
                ago(o.started, now)
            );
            let _ = writeln!(
                out,
                "Data:         {} clinic(s), {} panel entries, store {}",
                o.counts.clinics,
                o.counts.panel_entries,
                human_bytes(o.store_bytes)
            );
            if o.counts.open_conflicts > 0 {
                let _ = writeln!(
                    out,
                    "Conflicts:    {} clash(es) to settle on the Conflicts page",
                    o.counts.open_conflicts
                );
            }
            if o.counts.unreadable_documents > 0 {
                let _ = writeln!(
                    out,
                    "DAMAGED:      {} document(s) cannot be read; restore from a backup or the hub",
                    o.counts.unreadable_documents
                );
            }
            match (o.enrolled, o.enrolled_clinics) {
                (_, Some(clinics)) => {
                    let _ = writeln!(
                        out,
                        "Sync:         {clinics} clinic(s) enrolled, {} node(s) connected now",
                        o.sync_sessions
                    );
                }
                (Some(false), _) | (None, None) => {
                    let _ = writeln!(
                        out,
                        "Sync:         not enrolled with the hub (see `attach node enrol`)"
                    );
                }
                (Some(true), _) => {
                    let connected = if o.hub_connected == Some(true) {
                        "connected to the hub"
                    } else {
                        "NOT connected to the hub"
                    };
                    let last = o
                        .last_sync
                        .map(|t| format!("last sync {} ({})", date(t), ago(t, now)))
                        .unwrap_or_else(|| "never synced yet".to_owned());
                    let _ = writeln!(out, "Sync:         {connected}, {last}");
                    if let Some(e) = &o.last_sync_error {
                        let _ = writeln!(out, "Last problem: {e}");
                    }
                    let _ = writeln!(
                        out,
                        "Pending:      {} change(s) waiting to go up to the hub",
                        o.waiting_changes.unwrap_or(0)
                    );
                }
            }
        }
    }
    for cert in certificates(data_dir) {
        let days = (cert.not_after - now).whole_days();
        let warn = if days < 30 { "  RENEW SOON" } else { "" };
        let _ = writeln!(
            out,
            "Certificate:  {} expires {} (in {days} days){warn}",
            cert.what,
            date(cert.not_after)
        );
    }
    out
}

/// Asks the running process of `data_dir` for its overview.
pub async fn overview(data_dir: &Path) -> Result<Option<Overview>, OpsError> {
    match super::admin::fetch(data_dir, "/admin/overview").await? {
        None => Ok(None),
        Some(body) => serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| OpsError::Refused(format!("unexpected overview: {e}"))),
    }
}
