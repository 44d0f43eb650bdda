//! `GET /`: the HTML dashboard.

use std::sync::LazyLock;

use axum::response::Html;

use crate::status::Status;

/// The page, with the status names and their tones filled in from [`Status`],
/// so the dashboard knows every status the server can send.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let tones: serde_json::Map<String, serde_json::Value> = Status::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), s.tone().as_str().into()))
        .collect();
    include_str!("dashboard.html")
        .replace("/*TONES*/{}", &serde_json::Value::Object(tones).to_string())
});

/// The dashboard page.
pub async fn page() -> Html<&'static str> {
    Html(PAGE.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_tone_in_the_page() {
        for status in Status::ALL {
            let entry = format!("\"{status}\":\"{}\"", status.tone());
            assert!(PAGE.contains(&entry), "{entry} missing");
        }
        assert!(!PAGE.contains("/*TONES*/"));
    }
}
