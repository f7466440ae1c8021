//! Process metrics in the Prometheus text format at `GET /metrics`: requests by route and
//! status with latency histograms, authorization decisions by outcome, failed logins, import
//! jobs by result and index rebuilds. Counters live for the process; each server process of a
//! scaled-out deployment is scraped on its own.

use std::sync::LazyLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, get};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::authz::Outcome;

/// What became of an event message relayed between server processes: the `outcome` label of
/// `ironworx_event_relay_messages_total`, whose words this module owns.
#[derive(Clone, Copy, Debug)]
pub enum RelayOutcome {
    /// Notified to the other processes.
    Sent,
    /// Received from another process and handed to local subscribers.
    Received,
    /// Not relayed (queue full, database error, malformed message).
    Dropped,
}

/// Labels of a request count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// Labels of a latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// Labels of a decision or job count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    allow: Counter,
    deny: Counter,
    not_visible: Counter,
    login_failures: Counter,
    imports: Family<OutcomeLabels, Counter>,
    rebuilds: Counter,
    relay: Family<OutcomeLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ironworx");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            requests.clone(),
        );
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route pattern",
            latency.clone(),
        );
        let decisions = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "authorization_decisions",
            "Authorization decisions made for requests, by outcome",
            decisions.clone(),
        );
        let decision = |outcome| decisions.get_or_create(&OutcomeLabels { outcome }).clone();
        let (allow, deny, not_visible) =
            (decision("allow"), decision("deny"), decision("not_visible"));
        let login_failures = Counter::default();
        registry.register(
            "login_failures",
            "Failed logins (form, Basic credentials) including locked and disabled users",
            login_failures.clone(),
        );
        let imports = Family::<OutcomeLabels, Counter>::default();
        registry.register("import_jobs", "Import jobs run, by result", imports.clone());
        let rebuilds = Counter::default();
        registry.register(
            "authorization_index_rebuilds",
            "Times the authorization index was rebuilt after a change",
            rebuilds.clone(),
        );
        let relay = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "event_relay_messages",
            "Event messages between server processes: sent, received, dropped",
            relay.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            allow,
            deny,
            not_visible,
            login_failures,
            imports,
            rebuilds,
            relay,
        }
    }

    /// Counts one answered request and its latency.
    fn request(&self, method: String, route: String, status: u16, seconds: f64) {
        self.latency
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// Counts one authorization decision.
    pub fn decision(&self, outcome: Outcome) {
        match outcome {
            Outcome::Allow => self.allow.inc(),
            Outcome::Deny => self.deny.inc(),
            Outcome::NotVisible => self.not_visible.inc(),
        };
    }

    /// Counts one failed login.
    pub fn login_failure(&self) {
        self.login_failures.inc();
    }

    /// Counts one import job, succeeded or failed.
    pub fn import_job(&self, succeeded: bool) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        self.imports.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts one rebuild of the authorization index.
    pub fn index_rebuild(&self) {
        self.rebuilds.inc();
    }

    /// Counts one event message relayed between processes.
    pub fn event_relay(&self, outcome: RelayOutcome) {
        let outcome = match outcome {
            RelayOutcome::Sent => "sent",
            RelayOutcome::Received => "received",
            RelayOutcome::Dropped => "dropped",
        };
        self.relay.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The metrics of this process.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Middleware counting every request by its route pattern (never its concrete path, so entity
/// names stay out of the metrics and the label set stays bounded) and status.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    METRICS.request(
        method,
        route,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    Ok(res)
}

/// The media type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text";

/// `GET /metrics`: the Prometheus text format 0.0.4, or OpenMetrics 1.0 when the scraper's
/// `Accept` names `application/openmetrics-text`.
#[get("/metrics")]
pub async fn endpoint(req: actix_web::HttpRequest) -> HttpResponse {
    let openmetrics = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept
                .split(',')
                .any(|part| part.trim().to_ascii_lowercase().starts_with(OPENMETRICS))
        });
    if openmetrics {
        return HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(METRICS.render());
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(prometheus_text(&METRICS.render()))
}

/// The Prometheus text format 0.0.4 of an OpenMetrics exposition: no `# EOF` or `# UNIT`
/// lines, and a counter family named after its `_total` samples.
pub fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .filter(|name| !name.ends_with("_total"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let metrics = Metrics::new();
        metrics.decision(Outcome::Deny);
        metrics.login_failure();
        metrics.import_job(false);
        metrics.index_rebuild();
        metrics.request("GET".into(), "/metrics".into(), 200, 0.01);
        let text = metrics.render();
        for line in [
            "ironworx_authorization_decisions_total{outcome=\"deny\"} 1",
            "ironworx_authorization_decisions_total{outcome=\"allow\"} 0",
            "ironworx_login_failures_total 1",
            "ironworx_import_jobs_total{outcome=\"failed\"} 1",
            "ironworx_authorization_index_rebuilds_total 1",
            "# TYPE ironworx_http_request_duration_seconds histogram",
            "ironworx_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"} 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        let prometheus = prometheus_text(&text);
        assert!(!prometheus.contains("# EOF"), "{prometheus}");
        assert!(
            prometheus.contains("# TYPE ironworx_login_failures_total counter"),
            "{prometheus}"
        );
        assert!(prometheus.contains("ironworx_login_failures_total 1"));
        assert!(
            prometheus.contains("# TYPE ironworx_http_request_duration_seconds histogram"),
            "{prometheus}"
        );
    }
}
