//! The Docker test support itself: the image runs, and cleanup removes what a test made.

use crate::require_docker;
use crate::support::docker::{Cleanup, TEST_IMAGE, docker, docker_ok};
use crate::support::unique_name;

#[test]
fn test_image_runs_and_cleanup_removes_labelled_containers() {
    require_docker!();
    let instance = unique_name("support");
    let name = format!("{instance}-c");
    let label = format!("io.docker-cd.instance={instance}");
    {
        let _cleanup = Cleanup::new(&instance, &instance);
        docker_ok(&[
            "run", "-d", "--name", &name, "--label", &label, TEST_IMAGE, "sleep", "300",
        ]);
        let state = docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]);
        assert_eq!(state, "true");
        let echoed = docker_ok(&["run", "--rm", TEST_IMAGE, "echo", "hello from busybox"]);
        assert_eq!(echoed, "hello from busybox");
    }
    assert!(
        !docker(&["inspect", &name]).status.success(),
        "the cleanup guard must remove the test's container"
    );
}
