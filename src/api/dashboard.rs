//! `GET /`: the HTML dashboard.

use axum::response::Html;

/// The dashboard page.
pub async fn page() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}
