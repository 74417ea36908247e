//! `/metrics`: the server's and its instances' figures in Prometheus's text exposition format
//! (0.0.4), for a scraper holding the bearer token of `ecslab serve --metrics-token`.
//!
//! Requests are counted where the pipeline logs "request done" ([`RequestMetrics::record`]):
//! per action and HTTP status, with a latency histogram. Everything else is read at scrape
//! time, so a scrape is never stale: instances by account and status, each running instance's
//! QEMU CPU seconds and RSS from `/proc` (`ecslab_core::monitor`), snapshots in flight and the
//! MTS queue. Without a configured token the route does not exist (404, as any unknown route);
//! a missing or wrong bearer is 401. The token is compared in constant time.

use crate::envelope::{self, ApiError, Format};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ecslab_core::Cloud;
use prometheus::{
    CounterVec, Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use std::collections::HashSet;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// The path scrapers ask for.
pub const PATH: &str = "/metrics";

/// Distinct action labels kept; beyond it (a caller inventing action names) new ones count as
/// `other`, so no caller can grow the exposition without bound.
const MAX_ACTION_LABELS: usize = 512;

/// Latency buckets, seconds: from a cached Describe to a live snapshot of a busy guest.
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The request counters, alive for the server's lifetime.
pub struct RequestMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    actions: Mutex<HashSet<String>>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestMetrics {
    pub fn new() -> RequestMetrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("ecslab_api_requests_total", "API requests answered, by action and HTTP status."),
            &["action", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "ecslab_api_request_duration_seconds",
                "Time to answer an API request, by action.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["action"],
        )
        .expect("valid metric");
        registry.register(Box::new(requests.clone())).expect("registered once");
        registry.register(Box::new(latency.clone())).expect("registered once");
        RequestMetrics { registry, requests, latency, actions: Mutex::default() }
    }

    /// Count one answered request. `action` is `None` before the action was known (a refused
    /// signature, a malformed request) or for an action no product has.
    pub fn record(&self, action: Option<&str>, status: u16, seconds: f64) {
        let action = self.label(action);
        self.requests.with_label_values(&[action.as_str(), &status.to_string()]).inc();
        self.latency.with_label_values(&[action.as_str()]).observe(seconds);
    }

    fn label(&self, action: Option<&str>) -> String {
        let Some(action) = action else { return "-".into() };
        let mut actions = self.actions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if actions.contains(action) {
            return action.to_string();
        }
        if actions.len() >= MAX_ACTION_LABELS {
            return "other".into();
        }
        actions.insert(action.to_string());
        action.to_string()
    }
}

/// Answer `GET /metrics`: 404 when no token is configured, 401 without the right bearer.
pub async fn serve(
    cloud: &Cloud,
    requests: &RequestMetrics,
    token: Option<&str>,
    headers: &HeaderMap,
    request_id: &str,
) -> Response {
    let host_id = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("ecslab").to_string();
    let Some(token) = token else {
        let unknown = ApiError::UnknownRoute { method: "GET".into(), path: PATH.into() };
        return envelope::error(request_id, &host_id, None, &unknown, Format::Json);
    };
    if !bearer_matches(headers, token) {
        let mut response =
            envelope::error(request_id, &host_id, None, &ApiError::MetricsUnauthorized, Format::Json);
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    match exposition(cloud, requests).await {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(context = %e.detail(), "internal error");
            envelope::error(request_id, &host_id, None, &ApiError::Domain(e), Format::Json)
        }
    }
}

/// Whether the request carries `Authorization: Bearer <token>`, compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers.get(header::AUTHORIZATION).and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    bool::from(given.ct_eq(token.as_bytes()))
}

/// The whole exposition: the request counters and what is read now.
async fn exposition(cloud: &Cloud, requests: &RequestMetrics) -> ecslab_core::Result<String> {
    let monitor = cloud.monitor();
    let readings = monitor.readings().await?;
    let snapshots = monitor.snapshots_in_flight().await?;
    let (queued, running) = monitor.mts_queue().await?;

    let now = Registry::new();
    let instances = IntGaugeVec::new(
        Opts::new("ecslab_instances", "Instances by account and status."),
        &["account_id", "status"],
    )
    .map_err(internal)?;
    let instance = ["instance_id", "account_id"];
    let by_direction = ["instance_id", "account_id", "direction"];
    let cpu = counters(
        "ecslab_instance_cpu_seconds_total",
        "CPU time (user + system) of the instance's QEMU process since it started, seconds.",
        &instance,
    )?;
    let rss = IntGaugeVec::new(
        Opts::new(
            "ecslab_instance_memory_rss_bytes",
            "Resident memory of the instance's QEMU process, bytes.",
        ),
        &instance,
    )
    .map_err(internal)?;
    // Bytes as the guest sees them, by direction (received, sent): every frame of its NICs, and the TCP
    // payload through its public address (a part of the former).
    let nic_bytes = counters(
        "ecslab_instance_nic_bytes_total",
        "Bytes the instance's NICs carried (frames) since its VM started, by direction as the guest sees it.",
        &by_direction,
    )?;
    let public_bytes = counters(
        "ecslab_instance_public_bytes_total",
        "TCP payload carried through the instance's public address since its proxy started, by direction.",
        &by_direction,
    )?;
    let in_flight = IntGauge::with_opts(Opts::new(
        "ecslab_snapshots_in_flight",
        "Snapshots being created (status progressing).",
    ))
    .map_err(internal)?;
    let mts = IntGaugeVec::new(
        Opts::new(
            "ecslab_mts_jobs",
            "MTS screenshot jobs submitted and not done, by state (queued, running).",
        ),
        &["state"],
    )
    .map_err(internal)?;
    for collector in [&instances, &rss, &mts] {
        now.register(Box::new(collector.clone())).map_err(internal)?;
    }
    now.register(Box::new(in_flight.clone())).map_err(internal)?;
    // A registry made for this scrape: the counter starts at zero and is raised to the reading.
    for counter in [&cpu, &nic_bytes, &public_bytes] {
        now.register(Box::new(counter.clone())).map_err(internal)?;
    }

    for reading in &readings {
        let account = reading.instance.account_id.as_str();
        instances.with_label_values(&[account, reading.instance.status.as_str()]).inc();
        if let Some(usage) = reading.usage {
            let id = reading.instance.instance_id.as_str();
            cpu.with_label_values(&[id, account]).inc_by(usage.cpu_seconds);
            rss.with_label_values(&[id, account]).set(i64::try_from(usage.rss_bytes).unwrap_or(i64::MAX));
        }
        if let Some(traffic) = reading.traffic {
            let id = reading.instance.instance_id.as_str();
            for (family, bytes) in [(&nic_bytes, traffic.nic), (&public_bytes, traffic.public)] {
                family.with_label_values(&[id, account, "received"]).inc_by(bytes.received as f64);
                family.with_label_values(&[id, account, "sent"]).inc_by(bytes.sent as f64);
            }
        }
    }
    in_flight.set(snapshots as i64);
    mts.with_label_values(&["queued"]).set(queued as i64);
    mts.with_label_values(&["running"]).set(running as i64);

    let mut families = requests.registry.gather();
    families.extend(now.gather());
    let mut text = Vec::new();
    prometheus::TextEncoder::new().encode(&families, &mut text).map_err(internal)?;
    String::from_utf8(text).map_err(internal)
}

/// A family of counters read at scrape time (a registry made per scrape starts them at zero).
fn counters(name: &str, help: &str, labels: &[&str]) -> ecslab_core::Result<CounterVec> {
    CounterVec::new(Opts::new(name, help), labels).map_err(internal)
}

fn internal(e: impl std::fmt::Display) -> ecslab_core::Error {
    ecslab_core::Error::internal(format!("rendering /metrics: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_is_exact() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert!(bearer_matches(&with("Bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(&with("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(&with("Bearer s3cret "), "s3cret"));
        assert!(!bearer_matches(&with("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
    }

    #[test]
    fn action_labels_are_bounded() {
        let metrics = RequestMetrics::new();
        for n in 0..MAX_ACTION_LABELS + 10 {
            metrics.record(Some(&format!("Action{n}")), 404, 0.001);
        }
        metrics.record(None, 400, 0.001);
        let families = metrics.registry.gather();
        let counted = families.iter().find(|f| f.name() == "ecslab_api_requests_total").unwrap();
        assert_eq!(counted.get_metric().len(), MAX_ACTION_LABELS + 2);
    }
}
