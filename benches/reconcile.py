#!/usr/bin/env python3
"""Reconcile to Docker at scale (issues 4 and 7), against the real engine, with
the floor measured in the same run: plain sequential `docker-compose up -d` of
the same stacks (cold, then no-op), and one `up -d` of a changed stack.

- cold converge of N stacks,
- restart with N synced stacks: the no-op pass (sum of reconcile durations,
  compose runs must be 0),
- one stack changed -> synced, minus that stack's own `compose up -d` time,
- drift: `docker kill` -> running again,
- idle RSS.

    tests/setup && cargo build --release --bin docker-cd && python3 benches/reconcile.py [N]
    RECONCILE_CONCURRENCY=2 python3 benches/reconcile.py 50     # parallel applies

Stacks use `network_mode: bridge` (no network per project: Docker's default
address pools end near 30 projects).
"""

import os
import re
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


def compose_up(stack_dir, project):
    subprocess.run(["docker-compose", "-p", project, "up", "-d"], cwd=stack_dir, check=True,
                   capture_output=True)


def floor(repo):
    """Sequential compose up -d of every stack (cold, then again: a no-op pass),
    and one up -d after a change. Returns seconds (cold, noop, one)."""
    stacks = sorted(os.listdir(os.path.join(repo, "stacks")))
    projects = ["floor%d-%s" % (os.getpid(), s) for s in stacks]
    t = time.monotonic()
    for name, project in zip(stacks, projects):
        compose_up(os.path.join(repo, "stacks", name), project)
    cold = time.monotonic() - t
    t = time.monotonic()
    for name, project in zip(stacks, projects):
        compose_up(os.path.join(repo, "stacks", name), project)
    noop = time.monotonic() - t
    first = os.path.join(repo, "stacks", stacks[0])
    write(repo, "stacks/%s/.env" % stacks[0], "STACK=floor\nCHANGED=1\n")
    t = time.monotonic()
    compose_up(first, projects[0])
    one = time.monotonic() - t
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project"],
                         capture_output=True, text=True).stdout.split()
    mine = [i for i in ids if docker("inspect", "-f", "{{index .Config.Labels \"com.docker.compose.project\"}}", i)
            .startswith("floor%d-" % os.getpid())]
    if mine:
        subprocess.run(["docker", "rm", "-f", *mine], capture_output=True)
    return cold, noop, one


def wrk(url):
    """Requests/s and p99 latency of GET url under wrk (2 threads, 32 connections, 10 s)."""
    if not shutil.which("wrk"):
        return None
    out = subprocess.run(["wrk", "-t2", "-c32", "-d10s", "--latency", url],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return rps, float(p99.group(1)) * scale


def main():
    repo = make_repo(N, PREFIX)
    data = tempfile.mkdtemp(prefix="dcd-bench-data-")
    env = {"GIT_REPO_URL": repo, "DEPLOY_DIR": "stacks", "DATA_DIR": data, "INSTANCE_NAME": INSTANCE,
           "RECONCILE_CONCURRENCY": os.environ.get("RECONCILE_CONCURRENCY", "1"),
           "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")}
    try:
        floor_repo = tempfile.mkdtemp(prefix="dcd-bench-floor-")
        shutil.copytree(os.path.join(repo, "stacks"), os.path.join(floor_repo, "stacks"))
        floor_cold, floor_noop, floor_one = floor(floor_repo)
        shutil.rmtree(floor_repo, ignore_errors=True)
        print("floor (plain docker-compose, sequential): cold %.1f s, no-op pass %.1f s, one changed stack %.0f ms"
              % (floor_cold, floor_noop, floor_one * 1000))

        t = time.monotonic()
        app = DockerCd(env)
        wait("cold converge", lambda: all_synced(app), timeout=3600, poll=0.2)
        cold = time.monotonic() - t
        up_sum = app.metric("dockercd_compose_duration_seconds_sum")
        print("stacks: %d, RECONCILE_CONCURRENCY=%s" % (N, env["RECONCILE_CONCURRENCY"]))
        print("cold converge: %.1f s (compose up time inside it: %.1f s, %.0f ms per stack) = %.2f x floor"
              % (cold, up_sum, up_sum / N * 1000, cold / floor_cold))

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
        # BENCH_SETTLE=2 waits for start-up work (compose detection) before the change runs.
        time.sleep(float(os.environ.get("BENCH_SETTLE", "0")))
        count = app.metric("dockercd_reconcile_duration_seconds_count")
        total = app.metric("dockercd_reconcile_duration_seconds_sum")
        print("restart -> all %d synced from labels: %.0f ms; no-op pass: %d reconciles in %.1f ms total, "
              "compose runs %d; floor no-op pass %.1f s (ratio %.4f)"
              % (N, restart * 1000, count, total * 1000, app.metric("dockercd_compose_runs_total"),
                 floor_noop, total / floor_noop))

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
        print("one stack changed -> synced: " + summary(latencies)
              + "; floor one up -d %.0f ms, median ratio %.2f" % (floor_one * 1000, sorted(latencies)[2] / floor_one))
        print("  of which not compose up -d (docker-cd overhead): " + summary(overheads)
              + " runs: " + " ".join("%.0f" % (o * 1000) for o in overheads))

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

        load = wrk(app.url("/api/stacks"))
        if load:
            print("GET /api/stacks under wrk -t2 -c32 -d10s: %.0f req/s, p99 %.2f ms" % load)
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
