//! Metrics as Prometheus sees them: every contract series, `promtool check
//! metrics` clean, and a real Prometheus server scraping docker-cd.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::process::{Builder, DockerCd};
use crate::support::repo::TestRepo;
use crate::support::servers::{Server, require_program};
use crate::support::wait::wait_until;

const CONTRACT_SERIES: [&str; 16] = [
    "dockercd_workqueue_depth",
    "dockercd_workqueue_adds_total",
    "dockercd_workqueue_retries_total",
    "dockercd_workqueue_queue_duration_seconds",
    "dockercd_workqueue_work_duration_seconds",
    "dockercd_reconcile_total",
    "dockercd_reconcile_duration_seconds",
    "dockercd_stacks",
    "dockercd_refresh_total",
    "dockercd_refresh_duration_seconds",
    "dockercd_webhook_requests_total",
    "dockercd_docker_events_total",
    "dockercd_drift_corrections_total",
    "dockercd_build_info",
    "dockercd_rollbacks_total",
    "dockercd_health_gate_duration_seconds",
];

/// A contract series with a sample per deployed stack only (none without stacks).
const PER_STACK_SERIES: &str = "dockercd_stack_health";

/// docker-cd on `repo`, nothing applied.
fn cd(repo: &TestRepo) -> Builder {
    DockerCd::on(repo).env("RECONCILE_ENABLED", "false")
}

#[tokio::test]
async fn every_contract_series_is_exposed_and_promtool_finds_nothing_to_say() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = cd(&repo).start();
    let api = app.api();
    api.refreshed_after(None).await;
    let text = api.metrics().await;
    for name in CONTRACT_SERIES {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("# TYPE {name} "))),
            "{name} is missing from /metrics"
        );
    }
    // Label values exist before anything happened (no missing series in alerts).
    for sample in [
        "dockercd_reconcile_total{result=\"error\"} 0",
        "dockercd_stacks{status=\"failed\"} 0",
        "dockercd_refresh_total{outcome=\"failed\",trigger=\"webhook\"} 0",
        "dockercd_webhook_requests_total{outcome=\"unauthorized\",provider=\"github\"} 0",
        "dockercd_rollbacks_total{reason=\"timeout\"} 0",
        "dockercd_health_gate_duration_seconds_count{outcome=\"failed\"} 0",
    ] {
        assert!(text.contains(sample), "{sample} is not initialised");
    }
    assert!(
        text.contains(&format!(
            "dockercd_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "build info"
    );

    if !require_program("promtool") {
        return;
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write metrics");
    let out = promtool.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics:\n{said}"
    );
}

#[tokio::test]
async fn a_real_prometheus_scrapes_docker_cd() {
    if !require_program("prometheus") {
        return;
    }
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = cd(&repo).start();
    let api = app.api();
    api.refreshed_after(None).await;
    let target = app.base_url.trim_start_matches("http://").to_string();

    let server = Server::prometheus(&target);
    let http = crate::support::http();
    let query = |q: &'static str| {
        let http = http.clone();
        let url = format!("http://127.0.0.1:{}/api/v1/query", server.port);
        async move {
            let encoded: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
            let response = http
                .get(format!("{url}?query={encoded}"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let body: Value = response.json().await.map_err(|e| e.to_string())?;
            match body["data"]["result"].as_array() {
                Some(results) if !results.is_empty() => Ok(results.clone()),
                _ => Err(body.to_string()),
            }
        }
    };
    let up = wait_until(
        "Prometheus to scrape docker-cd",
        Duration::from_secs(60),
        || query("up"),
    )
    .await;
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
    let stacks = wait_until(
        "dockercd_stacks in Prometheus",
        Duration::from_secs(30),
        || query("dockercd_stacks"),
    )
    .await;
    let statuses: Vec<&str> = stacks
        .iter()
        .filter_map(|s| s["metric"]["status"].as_str())
        .collect();
    assert!(statuses.contains(&"missing"), "{statuses:?}");
}

/// The repository's top folder.
fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(root().join("deploy/prometheus"))
        .output()
        .expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{said}");
    said
}

#[test]
fn deploy_prometheus_config_and_alert_rules_pass_promtool_and_their_unit_tests() {
    if !require_program("promtool") {
        return;
    }
    promtool(&["check", "config", "prometheus.yml"]);
    let rules = promtool(&["check", "rules", "alerts.yml"]);
    assert!(rules.contains("5 rules found"), "{rules}");
    promtool(&["test", "rules", "alerts.test.yml"]);
}

#[test]
fn the_grafana_dashboard_queries_only_series_docker_cd_exports() {
    let text = std::fs::read_to_string(root().join("deploy/grafana/dashboards/docker-cd.json"))
        .expect("dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut used = std::collections::BTreeSet::new();
    for expr in &exprs {
        for (i, _) in expr.match_indices("dockercd_") {
            let name: String = expr[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name)
                .to_string();
            assert!(
                CONTRACT_SERIES.contains(&base.as_str()) || base == PER_STACK_SERIES,
                "{base} (in {expr}) is not exported"
            );
            used.insert(base);
        }
    }
    assert!(
        used.len() >= 12,
        "the dashboard covers the contract series: {used:?}"
    );
}

/// Span names and their string attributes, as an OTLP/HTTP receiver got them.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<(String, String)>)>>>;

/// An OTLP/HTTP receiver on loopback decoding with the official protobuf types.
async fn otlp_receiver() -> (String, Received) {
    use axum::body::Bytes;
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use prost::Message as _;

    let received: Received = Received::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut spans = sink.lock().expect("sink");
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            let attributes = span
                                .attributes
                                .iter()
                                .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                                    Any::StringValue(v) => Some((kv.key.clone(), v.clone())),
                                    _ => None,
                                })
                                .collect();
                            spans.push((span.name, attributes));
                        }
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), received)
}

#[tokio::test]
async fn spans_are_exported_over_otlp_and_flushed_at_shutdown() {
    crate::require_docker!();
    let (endpoint, received) = otlp_receiver().await;
    let repo = TestRepo::with_stack("web", &["web"]);
    let mut app = cd(&repo)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .start();
    let api = app.api();
    let refreshed = api.refreshed_after(None).await;
    api.wait_status("web", "missing", Duration::from_secs(30))
        .await;
    app.signal("TERM");
    let status = tokio::task::spawn_blocking(move || app.wait_exit(Duration::from_secs(30)))
        .await
        .expect("join");
    assert!(status.success(), "{status:?}");

    let spans = received.lock().expect("sink").clone();
    let named = |name: &str| spans.iter().filter(|(n, _)| n == name).collect::<Vec<_>>();
    let refresh = named("refresh");
    assert!(
        refresh
            .iter()
            .any(|(_, a)| a.contains(&("trigger".into(), "startup".into()))),
        "a refresh span with its trigger: {spans:?}"
    );
    let reconcile = named("reconcile");
    assert!(
        reconcile
            .iter()
            .any(|(_, a)| a.contains(&("key".into(), "web".into()))
                && a.iter().any(|(k, _)| k == "result")),
        "a reconcile span with key and result: {spans:?}"
    );
    let revision = refreshed["revision"]
        .as_str()
        .expect("revision")
        .to_string();
    assert!(
        named("stack")
            .iter()
            .any(|(_, a)| a.contains(&("revision".into(), revision.clone()))),
        "a stack span with the revision: {spans:?}"
    );
}
