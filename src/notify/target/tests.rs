use rstest::rstest;

use super::*;

fn parsed(entry: &str) -> Target {
    Target::parse(entry).unwrap_or_else(|e| panic!("{entry}: {e}"))
}

#[rstest]
#[case::slack(
    "slack://hooks.slack.com/services/T000/B000/XXXXsecret",
    "https://hooks.slack.com/services/T000/B000/XXXXsecret",
    "slack://hooks.slack.com"
)]
#[case::discord(
    "discord://discord.com/api/webhooks/123/tok-en_secret",
    "https://discord.com/api/webhooks/123/tok-en_secret?wait=true",
    "discord://discord.com"
)]
#[case::ntfy_root(
    "ntfy://:tk_abcdef@ntfy.sh/deploys",
    "https://ntfy.sh/",
    "ntfy://ntfy.sh"
)]
#[case::ntfy_prefix(
    "ntfy+http://127.0.0.1:8081/ntfy/deploys",
    "http://127.0.0.1:8081/ntfy/",
    "ntfy://127.0.0.1:8081"
)]
#[case::gotify(
    "gotify://push.example.com/gotify/AbCdEf123",
    "https://push.example.com/gotify/message",
    "gotify://push.example.com"
)]
#[case::teams(
    "teams://prod-01.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=s1gnature",
    "https://prod-01.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=s1gnature",
    "teams://prod-01.westus.logic.azure.com"
)]
#[case::apprise(
    "apprise+https://apprise.lan/notify/ops?tag=deploys",
    "https://apprise.lan/notify/ops",
    "apprise://apprise.lan"
)]
#[case::webhook(
    "webhook+https://hooks.example.com/docker-cd?key=k3y-value",
    "https://hooks.example.com/docker-cd?key=k3y-value",
    "webhook://hooks.example.com"
)]
#[case::webhook_http(
    "WEBHOOK+HTTP://127.0.0.1:9000/in",
    "http://127.0.0.1:9000/in",
    "webhook://127.0.0.1:9000"
)]
fn each_service_maps_to_its_endpoint(
    #[case] entry: &str,
    #[case] endpoint: &str,
    #[case] label: &str,
) {
    let target = parsed(entry);
    assert_eq!(target.endpoint.as_str(), endpoint);
    assert_eq!(target.label(), label);
    assert_eq!(target.to_string(), label);
    assert_eq!(format!("{target:?}"), format!("Target({label})"));
}

#[test]
fn credentials_become_headers_and_body_fields() {
    let ntfy = parsed("ntfy://:tk_abcdef@ntfy.sh/deploys");
    assert!(ntfy.auth == Some(Auth::Bearer("tk_abcdef".into())));
    assert_eq!(ntfy.fields, [("topic".to_string(), "deploys".to_string())]);
    let basic = parsed("ntfy://ops:p%40ss@ntfy.lan/t");
    assert!(basic.auth == Some(Auth::Basic("ops".into(), "p@ss".into())));
    let gotify = parsed("gotify://push.example.com/AbCdEf123");
    assert!(gotify.auth == Some(Auth::GotifyKey("AbCdEf123".into())));
    let apprise = parsed("apprise+http://127.0.0.1:8000/notify/?tag=a&urls=mailto://x");
    assert_eq!(
        apprise.fields,
        [
            ("tag".to_string(), "a".to_string()),
            ("urls".to_string(), "mailto://x".to_string())
        ]
    );
    let webhook = parsed("webhook+https://u:pw-secret@hooks.example.com/x");
    assert!(webhook.auth == Some(Auth::Basic("u".into(), "pw-secret".into())));
    assert_eq!(webhook.endpoint.as_str(), "https://hooks.example.com/x");
}

#[rstest]
#[case("slack://hooks.slack.com/services/T/B/XXXXsecret", &["XXXXsecret"])]
#[case("discord://discord.com/api/webhooks/1/d-token", &["d-token"])]
#[case("gotify://h/AbCdEf123", &["AbCdEf123"])]
#[case("ntfy://:tk_abcdef@h/topic", &["tk_abcdef"])]
#[case("teams://h/w?sig=s1gnature", &["s1gnature"])]
#[case("apprise+https://h/notify/ops-key", &["ops-key"])]
#[case("webhook+https://u:pw-secret@h/x?token=t0ken", &["pw-secret", "t0ken"])]
fn the_secret_parts_are_known(#[case] entry: &str, #[case] secrets: &[&str]) {
    assert_eq!(parsed(entry).secrets(), secrets);
}

#[rstest]
#[case::no_scheme("hooks.slack.com/services/T/B/X", "expected <service>://")]
#[case::unknown("pagerduty://events.pagerduty.com/x", "unknown service 'pagerduty'")]
#[case::transport("slack+ftp://hooks.slack.com/x", "unknown transport '+ftp'")]
#[case::no_host("slack:///services/T/B/X", "no host")]
#[case::no_token("slack://hooks.slack.com", "path (with its token) is missing")]
#[case::discord_path("discord://discord.com/channels/1/2", "/api/webhooks/")]
#[case::discord_no_token("discord://discord.com/api/webhooks/123", "/api/webhooks/<id>/<token>")]
#[case::discord_empty_id(
    "discord://discord.com/api/webhooks//tok",
    "/api/webhooks/<id>/<token>"
)]
#[case::slack_one_segment("slack://hooks.slack.com/services/TSEKRIT", "/services/<T>/<B>/<X>")]
#[case::slack_two_segments("slack://hooks.slack.com/services/T/B", "/services/<T>/<B>/<X>")]
#[case::slack_not_services("slack://hooks.slack.com/x/T/B/X", "/services/<T>/<B>/<X>")]
#[case::no_topic("ntfy://ntfy.sh/", "topic is missing")]
#[case::ntfy_user("ntfy://user@ntfy.sh/t", "needs a password")]
#[case::no_token_gotify("gotify://push.example.com", "token is missing")]
#[case::apprise_path("apprise+https://apprise.lan/api/x", "/notify/")]
fn a_bad_entry_says_why(#[case] entry: &str, #[case] why: &str) {
    let err = Target::parse(entry).err().map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains(why)),
        "{entry}: {err:?}"
    );
}

#[test]
fn an_error_names_the_entry_and_never_its_token() {
    let err = "slack://hooks.slack.com/services/T/B/XXXXsecret, gotify://push.lan"
        .parse::<Targets>()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "entry 2: gotify://push.lan/…: the application token is missing: gotify://host/<token>"
    );
    let err = "slack://hooks.slack.com:99999/services/T/B/XXXXsecret"
        .parse::<Targets>()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.starts_with("entry 1: slack://…: not a URL"), "{err}");
    assert!(!err.contains("XXXXsecret"), "{err}");
}

#[test]
fn labels_are_unique_and_blank_entries_ignored() {
    let targets: Targets =
        "slack://hooks.slack.com/services/T/B/X1, ,slack://hooks.slack.com/services/T/B/X2,"
            .parse()
            .expect("valid");
    let labels: Vec<&str> = targets.0.iter().map(Target::label).collect();
    assert_eq!(
        labels,
        ["slack://hooks.slack.com", "slack://hooks.slack.com#2"]
    );
}
