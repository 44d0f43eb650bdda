//! Which checks a request passes is decided by the group its route is
//! registered in, so that no check has to know paths: adding a route means
//! choosing its group here, where the choice is seen beside the others.
//!
//! - open: probes and `/metrics`, which probes and Prometheus reach by service
//!   names, and the push webhook, signed by the forge and sent by a server —
//!   no `Host`, cross-site or token check;
//! - page: the dashboard, and unknown paths outside `/api` — the `Host` and
//!   cross-site checks, no token (the page holds no data and asks for it);
//! - api: every other `/api` route, and unknown paths under `/api` — all
//!   three, the token before the 404, so an unknown path tells nothing without it.
//!
//! The security headers go on every answer.

use axum::Router;
use axum::extract::FromRef;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, any, get, post};

use super::{
    ApiError, ApiToken, AppState, Site, actions, auth, cross_site, dashboard, events, health,
    history, host_check, plan, refresh, rollback, security_headers, stacks, webhook,
};

/// The push webhook's path.
const WEBHOOK_PATH: &str = "/api/webhook";

/// Paths and what answers them.
type Routes<S> = Vec<(&'static str, MethodRouter<S>)>;

/// Routes that pass no check: probes, metrics and the webhook.
fn open() -> Routes<AppState> {
    vec![
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
        ("/metrics", get(health::metrics)),
        (WEBHOOK_PATH, post(webhook::receive)),
    ]
}

/// Routes behind the `Host` and cross-site checks: the dashboard.
fn page() -> Routes<AppState> {
    vec![("/", get(dashboard::page))]
}

/// Routes behind the `Host`, cross-site and token checks: the API.
fn api() -> Routes<AppState> {
    vec![
        ("/api/stacks", get(stacks::list)),
        ("/api/stacks/{name}", get(stacks::get_one)),
        ("/api/stacks/{name}/sync", post(actions::sync)),
        ("/api/stacks/{name}/ack", post(actions::ack)),
        ("/api/stacks/{name}/plan", post(plan::plan)),
        ("/api/stacks/{name}/apply", post(plan::apply)),
        ("/api/stacks/{name}/compose", get(plan::compose_file)),
        ("/api/stacks/{name}/history", get(history::list)),
        ("/api/stacks/{name}/rollback", post(rollback::rollback)),
        ("/api/refresh", get(refresh::status).post(refresh::request)),
        ("/api/events", get(events::stream)),
    ]
}

/// The routes of each group.
struct Groups<S> {
    /// No check.
    open: Routes<S>,
    /// `Host` and cross-site checks.
    page: Routes<S>,
    /// `Host`, cross-site and token checks.
    api: Routes<S>,
}

/// What the checks read: `API_TOKEN` and `EXTERNAL_URL`.
#[derive(Clone)]
struct Checks {
    /// `API_TOKEN`.
    api_token: ApiToken,
    /// `EXTERNAL_URL`.
    site: Site,
}

impl FromRef<Checks> for ApiToken {
    fn from_ref(checks: &Checks) -> Self {
        checks.api_token.clone()
    }
}

impl FromRef<Checks> for Site {
    fn from_ref(checks: &Checks) -> Self {
        checks.site.clone()
    }
}

/// All routes, each behind its group's checks.
pub fn router(state: AppState) -> Router {
    let checks = Checks {
        api_token: state.api_token.clone(),
        site: state.site.clone(),
    };
    let groups = Groups {
        open: open(),
        page: page(),
        api: api(),
    };
    grouped(groups, &checks).with_state(state)
}

/// `groups` behind their checks, unknown paths in the group of their prefix,
/// and the security headers on every answer.
fn grouped<S: Clone + Send + Sync + 'static>(groups: Groups<S>, checks: &Checks) -> Router<S> {
    let page = table(groups.page).fallback(no_such_route);
    let api = table(groups.api)
        .route("/api", any(no_such_route))
        .route("/api/", any(no_such_route))
        .route("/api/{*rest}", any(no_such_route))
        .layer(from_fn_with_state(checks.clone(), auth::require_token));
    Router::new()
        .merge(table(groups.open))
        .merge(with_browser_checks(page, checks))
        .merge(with_browser_checks(api, checks))
        .layer(from_fn(security_headers::add))
}

/// A router of `routes`.
fn table<S: Clone + Send + Sync + 'static>(routes: Routes<S>) -> Router<S> {
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, method)| {
            router.route(path, method)
        })
}

/// `router`, its fallback included, behind (outermost first) the `Host` check
/// and the cross-site check.
fn with_browser_checks<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    checks: &Checks,
) -> Router<S> {
    router
        .layer(from_fn_with_state(
            checks.clone(),
            cross_site::refuse_cross_site,
        ))
        .layer(from_fn_with_state(
            checks.clone(),
            host_check::require_known_host,
        ))
}

/// The answer to a path no route has.
async fn no_such_route() -> ApiError {
    ApiError::not_found("no such route")
}
