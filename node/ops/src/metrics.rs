//! `/metrics` in the Prometheus text format (version 0.0.4), served on the admin listener
//! only. Numbers only: no label ever carries a name, a path with ids, or patient data.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Counters the HTTP layer updates; everything else is read when `/metrics` is asked.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests answered on the public listener, by status class (1xx … 5xx).
    requests: [AtomicU64; 5],
    /// Backups served by the admin listener.
    backups: AtomicU64,
}

impl Metrics {
    /// A fresh set of counters, shared by the public router and the admin listener.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn count_status(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_backup(&self) {
        self.backups.fetch_add(1, Ordering::Relaxed);
    }
}

/// Middleware for the public router: counts every answer by status class.
pub async fn count_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    metrics.count_status(response.status().as_u16());
    response
}

/// One sample of everything `/metrics` reports.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub role: &'static str,
    pub store_bytes: u64,
    pub feed_position: u64,
    pub counts: attach_app::OpsCounts,
    /// Open sync sessions (hub: connected nodes; node: hub and LAN peers).
    pub sync_sessions: u64,
    pub sync_bytes_sent: u64,
    pub sync_bytes_received: u64,
    /// Changes made here that the hub has not confirmed yet (nodes).
    pub sync_waiting: u64,
    /// Unix time of the last successful sync with the hub (nodes), if any.
    pub last_sync_unix: Option<i64>,
}

/// The text exposition of `sample` and the counters.
pub fn render(metrics: &Metrics, sample: &Sample) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, values: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, v) in values {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let classes: Vec<(String, u64)> = (0..5)
        .map(|i| {
            (
                format!("{{code=\"{}xx\"}}", i + 1),
                metrics.requests[i].load(Ordering::Relaxed),
            )
        })
        .collect();
    let classes: Vec<(&str, u64)> = classes.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    metric(
        "attach_http_requests_total",
        "counter",
        "HTTP requests answered on the public listener, by status class.",
        &classes,
    );
    let role = if sample.role == "hub" {
        "{role=\"hub\"}"
    } else {
        "{role=\"node\"}"
    };
    metric(
        "attach_info",
        "gauge",
        "Always 1; the role label says whether this is a clinic node or the hub.",
        &[(role, 1)],
    );
    metric(
        "attach_store_size_bytes",
        "gauge",
        "Bytes the document store uses on disk.",
        &[("", sample.store_bytes)],
    );
    metric(
        "attach_store_feed_position",
        "counter",
        "Position of the store's change feed (grows with every document written).",
        &[("", sample.feed_position)],
    );
    metric(
        "attach_clinics",
        "gauge",
        "Clinics held in this data directory.",
        &[("", sample.counts.clinics as u64)],
    );
    metric(
        "attach_panel_entries",
        "gauge",
        "Patient entries on panels, removed ones included.",
        &[("", sample.counts.panel_entries as u64)],
    );
    metric(
        "attach_merge_conflicts",
        "gauge",
        "Clashes from merging offline edits that no account manager has settled yet.",
        &[("", sample.counts.open_conflicts as u64)],
    );
    metric(
        "attach_unreadable_documents",
        "gauge",
        "Documents that failed to load (damaged); anything above 0 needs looking at.",
        &[("", sample.counts.unreadable_documents as u64)],
    );
    metric(
        "attach_sync_sessions",
        "gauge",
        "Sync sessions open now (hub: connected nodes; node: the hub and LAN peers).",
        &[("", sample.sync_sessions)],
    );
    metric(
        "attach_sync_sent_bytes",
        "gauge",
        "Bytes sent by sync (node: since it started; hub: by the sessions open now).",
        &[("", sample.sync_bytes_sent)],
    );
    metric(
        "attach_sync_received_bytes",
        "gauge",
        "Bytes received by sync (node: since it started; hub: by the sessions open now).",
        &[("", sample.sync_bytes_received)],
    );
    if sample.role == "node" {
        metric(
            "attach_sync_waiting_changes",
            "gauge",
            "Documents changed here that the hub has not confirmed yet.",
            &[("", sample.sync_waiting)],
        );
        if let Some(t) = sample.last_sync_unix {
            metric(
                "attach_sync_last_success_timestamp_seconds",
                "gauge",
                "When the node last synced with the hub successfully (unix time).",
                &[("", u64::try_from(t).unwrap_or(0))],
            );
        }
    }
    metric(
        "attach_backups_total",
        "counter",
        "Backups served by the admin listener since the process started.",
        &[("", metrics.backups.load(Ordering::Relaxed))],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_is_well_formed_and_counts_requests_by_class() {
        let m = Metrics::default();
        m.count_status(200);
        m.count_status(204);
        m.count_status(404);
        m.count_status(503);
        let text = render(
            &m,
            &Sample {
                role: "node",
                store_bytes: 1234,
                last_sync_unix: Some(1_700_000_000),
                ..Sample::default()
            },
        );
        assert!(
            text.contains("attach_http_requests_total{code=\"2xx\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("attach_http_requests_total{code=\"4xx\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("attach_http_requests_total{code=\"5xx\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("attach_store_size_bytes 1234\n"), "{text}");
        assert!(text.contains("attach_sync_last_success_timestamp_seconds 1700000000\n"));
        // Every sample line belongs to a metric declared with HELP and TYPE before it.
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let name = parts.next().expect("name");
                assert!(matches!(parts.next(), Some("counter" | "gauge")), "{line}");
                declared.insert(name.to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().expect("name");
                assert!(declared.contains(name), "undeclared sample: {line}");
                let value = line.rsplit(' ').next().expect("value");
                value.parse::<f64>().expect("numeric value");
            }
        }
    }
}
