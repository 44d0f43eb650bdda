//! Items 7, 8 (colours) and 10: secrets stay out of children, logs and plain HTTP.

use crate::support::process::DockerCd;
use crate::support::repo::TestRepo;
/// Item 8: logs that go to a pipe (a file, journald, a collector) are plain
/// text, without ANSI colour codes.
#[tokio::test]
async fn logs_to_a_pipe_have_no_colour_codes() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = DockerCd::on(&repo)
        .env("RECONCILE_ENABLED", "false")
        .start();
    app.api().refreshed_after(None).await;
    let logs = app.logs();
    assert!(logs.contains("INFO"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escapes in the logs:\n{logs:?}"
    );
}
