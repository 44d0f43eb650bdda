#!/usr/bin/env python3
"""Reconcile to Docker at scale (issue 4), against the real engine:

- cold converge of N stacks (and the sequential `compose up -d` floor is in
  issue 7's harness; here the per-stack compose time comes from docker-cd's own
  compose_duration_seconds),
- restart with N synced stacks: the no-op pass (sum of reconcile durations,
  compose runs must be 0),
- one stack changed -> synced, minus that stack's own `compose up -d` time,
- drift: `docker kill` -> running again,
- idle RSS.

    tests/setup && cargo build --release --bin docker-cd && python3 benches/reconcile.py [N]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from common import DockerCd, commit, make_repo, summary, write

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
PREFIX = "bench%d-" % os.getpid()
INSTANCE = "bench-%d" % os.getpid()


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def wait(what, predicate, timeout=600, poll=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise SystemExit("timed out: " + what)


def all_synced(app, revision=None):
    stacks = app.get("/api/stacks")["stacks"]
    ok = [s for s in stacks if s["status"] == "synced" and (revision is None or s["synced_revision"] == revision)]
    return len(ok) == N and len(stacks) == N


def main():
    repo = make_repo(N, PREFIX)
    data = tempfile.mkdtemp(prefix="dcd-bench-data-")
    env = {"GIT_REPO_URL": repo, "DEPLOY_DIR": "stacks", "DATA_DIR": data, "INSTANCE_NAME": INSTANCE,
           "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")}
    try:
        t = time.monotonic()
        app = DockerCd(env)
        wait("cold converge", lambda: all_synced(app), timeout=3600, poll=0.2)
        cold = time.monotonic() - t
        up_sum = app.metric("dockercd_compose_duration_seconds_sum")
        print("stacks: %d" % N)
        print("cold converge: %.1f s (compose up time inside it: %.1f s, %.0f ms per stack)"
              % (cold, up_sum, up_sum / N * 1000))

        # A commit that changes no stack: refresh, 0 keys, 0 compose runs.
        runs = app.metric("dockercd_compose_runs_total")
        before = app.get("/api/refresh")["last"]["finished_at"]
        write(repo, "README.md", "docs\n")
        commit(repo, "docs only")
        t = time.monotonic()
        app.post("/api/refresh")
        app.wait_refresh(before)
        print("no-change commit: refresh round trip %.1f ms, compose runs %d"
              % ((time.monotonic() - t) * 1000, app.metric("dockercd_compose_runs_total") - runs))

        # Restart: every stack is reconciled once from the labels, with no compose run.
        app.stop()
        t = time.monotonic()
        app = DockerCd(env)
        wait("synced after restart", lambda: all_synced(app), timeout=120)
        restart = time.monotonic() - t
        count = app.metric("dockercd_reconcile_duration_seconds_count")
        total = app.metric("dockercd_reconcile_duration_seconds_sum")
        print("restart -> all %d synced from labels: %.0f ms; no-op pass: %d reconciles in %.1f ms total, "
              "compose runs %d" % (N, restart * 1000, count, total * 1000,
                                   app.metric("dockercd_compose_runs_total")))

        # One stack changed: refresh -> synced at the new revision, vs its own compose up time.
        overheads, latencies = [], []
        for i in range(5):
            name = "%s%03d" % (PREFIX, i)
            write(repo, "stacks/%s/.env" % name, "STACK=%d\nCHANGED=%d\n" % (i, i))
            rev = commit(repo, "change " + name)
            up_before = app.metric("dockercd_compose_duration_seconds_sum")
            t = time.monotonic()
            app.post("/api/refresh")
            wait("changed stack synced", lambda: (lambda s: s["status"] == "synced" and s["synced_revision"] == rev)(
                app.get("/api/stacks/" + name)))
            latency = time.monotonic() - t
            up = app.metric("dockercd_compose_duration_seconds_sum") - up_before
            latencies.append(latency)
            overheads.append(latency - up)
        print("one stack changed -> synced: " + summary(latencies))
        print("  of which not compose up -d (docker-cd overhead): " + summary(overheads))

        # Drift: kill a container, wait until it runs again.
        heals = []
        for i in range(5):
            project = "%s%03d" % (PREFIX, 10 + i)
            cid = docker("ps", "-q", "--filter", "label=com.docker.compose.project=" + project)
            t = time.monotonic()
            docker("kill", cid)
            def running():
                ids = docker("ps", "-q", "--filter", "label=com.docker.compose.project=" + project,
                             "--filter", "status=running")
                return bool(ids)
            wait("healed", running, timeout=60)
            heals.append(time.monotonic() - t)
        print("drift kill -> running: " + summary(heals))

        time.sleep(5)
        print("idle RSS with %d stacks: %.1f MiB" % (N, app.rss_mib()))
        app.stop()
    finally:
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.docker-cd.instance=" + INSTANCE],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
