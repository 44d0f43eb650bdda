//! Issue 23, item 2: the README's quick start works offline as written. Its
//! example stacks (`examples/stacks/`), with `busybox:1.36` tagged from the
//! local test image as the README says, all reach `synced`.

use std::path::Path;

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment};
use crate::support::docker::{TEST_IMAGE, docker_ok};
use crate::support::free_port;

/// Every file below `from`, as (path relative to it, text).
fn files(from: &Path, below: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(from).expect("read example folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files(&path, below));
        } else {
            let relative = path
                .strip_prefix(below)
                .expect("below")
                .display()
                .to_string();
            out.push((relative, std::fs::read_to_string(&path).expect("text")));
        }
    }
    out
}

#[tokio::test]
async fn the_example_stacks_reach_synced_with_the_readme_s_image() {
    require_docker!();
    // As the README says for a machine that cannot pull images.
    docker_ok(&["tag", TEST_IMAGE, "busybox:1.36"]);
    let mut d = Deployment::new("quick");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/stacks");
    // The web example publishes 127.0.0.1:18080; a free port instead, so a
    // quick start running on the same machine does not fail the test.
    let port = format!("127.0.0.1:{}:", free_port());
    for (path, text) in files(&examples, &examples) {
        let text = text.replace("127.0.0.1:18080:", &port);
        // Each example folder under this test's prefix: `web` → `<prefix>-web`.
        let (top, rest) = path.split_once('/').expect("inside a stack folder");
        d.repo.write(&format!("{}/{rest}", d.stack(top)), &text);
    }
    d.repo.commit("the README's example stacks");
    let api = d.start(&[]);
    for short in ["web", "worker", "apps-hello"] {
        api.wait_status(&d.stack(short), "synced", CONVERGE).await;
    }
}
