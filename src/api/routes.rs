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
//! Every request, whatever its group, must name its host and site once
//! (`well_formed.rs`: one `Host`, `Origin` and `Sec-Fetch-Site`, no empty
//! `Host`, an absolute-form target only with the same `Host`), and the
//! security headers go on every answer.

use axum::Router;
use axum::extract::FromRef;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, any, get, post};

use super::{
    ApiError, ApiToken, AppState, Site, actions, auth, cross_site, dashboard, events, health,
    history, host_check, plan, refresh, rollback, security_headers, stacks, webhook, well_formed,
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
/// ambiguous requests refused and the security headers on every answer.
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
        .layer(from_fn(well_formed::refuse_ambiguous))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::response::Response;
    use tower::ServiceExt as _;

    use crate::secret::Secret;

    const TOKEN: &str = "t0ken";

    /// What a stub route answers: the request passed its group's checks.
    const REACHED: StatusCode = StatusCode::IM_A_TEAPOT;

    /// Which checks stop a request, as seen from outside.
    #[derive(Debug, PartialEq, Eq)]
    struct Checked {
        token: bool,
        host: bool,
        cross_site: bool,
    }

    const OPEN: Checked = Checked {
        token: false,
        host: false,
        cross_site: false,
    };
    const PAGE: Checked = Checked {
        token: false,
        host: true,
        cross_site: true,
    };
    const API: Checked = Checked {
        token: true,
        host: true,
        cross_site: true,
    };

    /// The checks a registered route must pass, said apart from where it is
    /// registered: a new route outside `/api` has to be named here too.
    fn expected(path: &str) -> Checked {
        match path {
            "/healthz" | "/readyz" | "/metrics" | "/api/webhook" => OPEN,
            "/" => PAGE,
            p if p.starts_with("/api/") => API,
            p => panic!("{p}: say here which checks it passes"),
        }
    }

    /// The real groups' paths, each answered by a stub whatever the method.
    fn stubbed(routes: Routes<AppState>) -> Routes<()> {
        routes
            .into_iter()
            .map(|(path, _)| (path, any(|| async { REACHED })))
            .collect()
    }

    /// The router over the stubbed groups, with `API_TOKEN` or without.
    fn app(token: Option<&str>) -> Router {
        let checks = Checks {
            api_token: ApiToken(token.map(Secret::new)),
            site: Site(None),
        };
        let groups = Groups {
            open: stubbed(open()),
            page: stubbed(page()),
            api: stubbed(api()),
        };
        grouped(groups, &checks)
    }

    /// `path` with each `{parameter}` filled in.
    fn concrete(path: &str) -> String {
        let segments: Vec<&str> = path
            .split('/')
            .map(|s| if s.starts_with('{') { "web" } else { s })
            .collect();
        segments.join("/")
    }

    /// The answer to `method path` with `headers`, which must carry the
    /// security headers whatever it is.
    async fn send(app: &Router, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).expect("request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        let nosniff = response.headers().get("x-content-type-options");
        assert_eq!(
            nosniff.map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{method} {path}"
        );
        response
    }

    /// The status of `method path` with `headers`.
    async fn status(app: &Router, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
        send(app, method, path, headers).await.status().as_u16()
    }

    /// The status and body of GET and POST to `path` that every check lets through.
    async fn passed(path: &str) -> Vec<(u16, String)> {
        let app = app(Some(TOKEN));
        let bearer = format!("Bearer {TOKEN}");
        let headers = [("host", "127.0.0.1"), ("authorization", bearer.as_str())];
        let mut answers = Vec::new();
        for method in ["GET", "POST"] {
            answers.push(text(send(&app, method, path, &headers).await).await);
        }
        answers
    }

    /// The status and body of `response`.
    async fn text(response: Response) -> (u16, String) {
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await;
        (
            status,
            String::from_utf8_lossy(&body.expect("body")).into_owned(),
        )
    }

    /// Which checks stop a request to `path`.
    async fn checked(path: &str) -> Checked {
        let (with_token, without) = (app(Some(TOKEN)), app(None));
        let evil_host = [("host", "evil.example")];
        let evil_origin = [("host", "127.0.0.1"), ("origin", "http://evil.example")];
        Checked {
            token: status(&with_token, "GET", path, &[]).await == 401,
            host: status(&without, "GET", path, &evil_host).await == 403,
            cross_site: status(&without, "POST", path, &evil_origin).await == 403,
        }
    }

    #[tokio::test]
    async fn each_route_passes_the_checks_of_its_group() {
        let routes = [open(), page(), api()].into_iter().flatten();
        for (path, _) in routes {
            let concrete = concrete(path);
            assert_eq!(checked(&concrete).await, expected(path), "{path}");
            for (status, _) in passed(&concrete).await {
                assert_eq!(status, REACHED.as_u16(), "{path}");
            }
        }
    }

    #[tokio::test]
    async fn ambiguous_requests_are_refused_in_every_group() {
        let twice = |name| [("host", "127.0.0.1"), (name, "a"), (name, "b")];
        for token in [None, Some(TOKEN)] {
            let app = app(token);
            for path in [
                "/healthz",
                "/api/webhook",
                "/",
                "/api/stacks",
                "/api/nosuch",
            ] {
                for headers in [
                    &[("host", "127.0.0.1"), ("host", "evil.example")][..],
                    &twice("origin")[1..],
                    &twice("sec-fetch-site")[..],
                    &[("host", "")][..],
                ] {
                    assert_eq!(
                        status(&app, "POST", path, headers).await,
                        400,
                        "{path} {headers:?}"
                    );
                }
                let target = format!("http://evil.example{path}");
                let local = [("host", "127.0.0.1")];
                assert_eq!(status(&app, "GET", &target, &local).await, 400, "{target}");
            }
        }
    }

    #[tokio::test]
    async fn an_absolute_form_target_is_checked_as_its_host() {
        let app = app(None);
        let at = |host: &'static str| [("host", host)];
        for path in ["/", "/api/stacks"] {
            let evil = format!("http://evil.example{path}");
            assert_eq!(status(&app, "GET", &evil, &[]).await, 403, "{evil}");
            assert_eq!(status(&app, "GET", &evil, &at("evil.example")).await, 403);
            let local = format!("http://127.0.0.1:8080{path}");
            let reached = REACHED.as_u16();
            assert_eq!(status(&app, "GET", &local, &[]).await, reached, "{local}");
            assert_eq!(
                status(&app, "GET", &local, &at("127.0.0.1:8080")).await,
                reached
            );
        }
    }

    #[tokio::test]
    async fn unknown_paths_pass_the_checks_of_their_prefix_before_the_404() {
        let not_found = (404, r#"{"error":"no such route"}"#.to_string());
        let api = [
            "/api",
            "/api/",
            "/api/nosuch",
            "/api/stacks/web/sync/more",
            "/api/webhook/",
            "/api/webhook/more",
        ];
        for path in api {
            assert_eq!(checked(path).await, API, "{path}");
            assert_eq!(passed(path).await, vec![not_found.clone(); 2], "{path}");
        }
        for path in ["/nosuch", "/apis", "/healthz/", "/metrics/more"] {
            assert_eq!(checked(path).await, PAGE, "{path}");
            assert_eq!(passed(path).await, vec![not_found.clone(); 2], "{path}");
        }
    }
}
