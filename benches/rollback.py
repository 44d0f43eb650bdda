#!/usr/bin/env python3
"""Automatic rollback (issue 15), against the real engine: how long a broken
revision runs before the last good one is back.

Each run deploys a fresh stack at a healthy revision A (ROLLBACK_ENABLED=true),
then commits B and refreshes. Two kinds of B:

- `unhealthy`: B's healthcheck exits 1 (interval 1 s, retries 1), so Docker
  marks the container unhealthy about a second after it starts;
- `exits`: B's command exits 1 at once.

Printed per kind: refresh -> the failure Docker reports (`health_status:
unhealthy` or `die`, from `docker events`), and that failure -> the stack's
`rolled-back` status on docker-cd's event stream (`GET /api/events`), which it
reaches only once A runs again and is healthy.

    tests/setup && cargo build --release --bin docker-cd && python3 benches/rollback.py [RUNS]
    COMPOSE_COMMAND=docker-compose python3 benches/rollback.py 5     # compose v1
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from common import TEST_IMAGE, DockerCd, commit, git, summary, write

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
TIMEOUT = 120

HEALTHY = ("services:\n  web:\n    image: %s\n    network_mode: bridge\n    environment: [REV=%s]\n"
           "    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 1s\n")
BROKEN = {
    "unhealthy": HEALTHY.replace("\"true\"", "\"false\"") + "      retries: 1\n",
    "exits": HEALTHY + "    command: [\"false\"]\n",
}
FAILURE_EVENT = {"unhealthy": "health_status: unhealthy", "exits": "die"}


class Watch:
    """Wall-clock times of Docker events of one project and of docker-cd's
    status events of one stack, each read on its own thread."""

    def __init__(self, app, name):
        self.name = name
        self.docker = []  # (time, status)
        self.statuses = []  # (time, status)
        self.events = subprocess.Popen(
            ["docker", "events", "--format", "{{json .}}",
             "--filter", "label=com.docker.compose.project=" + name],
            stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._docker, daemon=True).start()
        self.sse = urllib.request.urlopen(app.url("/api/events"), timeout=TIMEOUT)
        threading.Thread(target=self._sse, daemon=True).start()

    def _docker(self):
        for line in self.events.stdout:
            event = json.loads(line)
            self.docker.append((event["timeNano"] / 1e9, event.get("status", "")))

    def _sse(self):
        try:
            for raw in self.sse:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    data = json.loads(line[5:])
                    if data.get("type") == "stack" and data.get("name") == self.name:
                        self.statuses.append((time.time(), data["status"]))
        except (OSError, ValueError, AttributeError):
            pass  # closed by close(): http.client then reads from a closed socket

    def first(self, found, what, after):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for at, status in list(found):
                if status == what and at >= after:
                    return at
            time.sleep(0.005)
        raise SystemExit("no %r after %.3f within %d s" % (what, after, TIMEOUT))

    def close(self):
        self.events.kill()
        self.sse.close()


def wait_status(app, name, status, revision=None):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        stacks = {s["name"]: s for s in app.get("/api/stacks")["stacks"]}
        stack = stacks.get(name) or {}
        if stack.get("status") == status and (revision is None or stack.get("synced_revision") == revision):
            return stack
        time.sleep(0.02)
    raise SystemExit("%s did not become %s: %s" % (name, status, stack))


def refresh(app):
    before = (app.get("/api/refresh").get("last") or {}).get("finished_at")
    app.post("/api/refresh")
    app.wait_refresh(before)


def one_run(app, repo, kind, run):
    name = "rb-%s-%d" % (kind, run)
    path = "stacks/%s/compose.yaml" % name
    write(repo, path, HEALTHY % (TEST_IMAGE, "a"))
    good = commit(repo, "%s: A" % name)
    refresh(app)
    wait_status(app, name, "synced", good)
    watch = Watch(app, name)
    try:
        write(repo, path, BROKEN[kind] % (TEST_IMAGE, "b"))
        commit(repo, "%s: B" % name)
        started = time.time()
        refresh(app)
        failed = watch.first(watch.docker, FAILURE_EVENT[kind], started)
        try:
            rolled = watch.first(watch.statuses, "rolled-back", failed)
        except SystemExit:
            print("stack:", app.get("/api/stacks/" + name), "log:", app.log.name)
            raise
        stack = wait_status(app, name, "rolled-back", good)
        assert stack["synced_revision"] == good, stack
        return failed - started, rolled - failed
    finally:
        watch.close()


def main():
    repo = tempfile.mkdtemp(prefix="dcd-bench-rollback-")
    data = tempfile.mkdtemp(prefix="dcd-bench-data-")
    instance = "bench-rollback-%d" % os.getpid()
    git(repo, "init", "-q", "-b", "main")
    write(repo, "README.md", "rollback bench\n")
    commit(repo, "empty")
    app = DockerCd({"GIT_REPO_URL": repo, "DEPLOY_DIR": "stacks", "DATA_DIR": data,
                    "INSTANCE_NAME": instance, "ROLLBACK_ENABLED": "true",
                    **({"COMPOSE_COMMAND": os.environ["COMPOSE_COMMAND"]}
                       if os.environ.get("COMPOSE_COMMAND") else {})})
    try:
        for kind in BROKEN:
            to_failure, to_rolled = [], []
            for run in range(RUNS):
                a, b = one_run(app, repo, kind, run)
                to_failure.append(a)
                to_rolled.append(b)
                print("%-9s run %d: refresh -> %s %.0f ms, -> rolled-back %.0f ms"
                      % (kind, run + 1, FAILURE_EVENT[kind], a * 1000, b * 1000), flush=True)
            print("%-9s refresh -> failure reported by Docker: %s" % (kind, summary(to_failure)))
            print("%-9s failure -> rolled-back (A running and healthy): %s" % (kind, summary(to_rolled)))
    finally:
        app.stop()
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.docker-cd.instance=" + instance],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
