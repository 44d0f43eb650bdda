#!/usr/bin/env python3
"""Reconcile to Docker at scale (issues 4 and 7), against the real engine, with
the floor measured in the same run: plain sequential `compose up -d` of
the same stacks (cold, then no-op), and one `up -d` of a changed stack.

- cold converge of N stacks (and docker-cd's CPU time during it),
- a docs-only commit: refresh round trip, compose runs (must be 0),
- restart with N synced stacks: the no-op pass (sum of reconcile durations,
  compose runs must be 0),
- one stack changed, announced by a signed GitHub push webhook -> synced, minus
  that stack's own `compose up -d` time, and how many containers were recreated,
- drift: `docker kill` -> running again,
- `GET /api/stacks` under wrk, against nginx serving the same bytes as a
  static file (the HTTP floor for that response size), idle RSS and idle CPU.

    tests/setup && cargo build --release --bin docker-cd && python3 benches/reconcile.py [N] [RUNS]
    RECONCILE_CONCURRENCY=2 python3 benches/reconcile.py 50     # parallel applies
    COMPOSE_COMMAND=docker-compose FLOOR_COMPOSE=docker-compose python3 benches/reconcile.py 50  # v1

The floor runs the compose docker-cd's auto-detection picks here (the v2 plugin
binary) unless FLOOR_COMPOSE names another; COMPOSE_COMMAND is docker-cd's own.

With RUNS > 1 the whole scenario (floor included) repeats on fresh stacks, the
floor before docker-cd in odd-numbered runs and after it in even-numbered ones,
and the medians over the runs are printed last.

Stacks use `network_mode: bridge` (no network per project: Docker's default
address pools end near 30 projects).
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import DockerCd, StaticFile, commit, floor_compose, make_repo, summary, write

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 1
SECRET = "bench-webhook-secret"
IDLE_SECONDS = 10
# Label filters of docker-cd's compose metrics.
UP, CONFIG = 'command="up"', 'command="config"'


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
    subprocess.run([*floor_compose(), "-p", project, "up", "-d"], cwd=stack_dir, check=True,
                   capture_output=True)


def floor(repo, tag):
    """Sequential compose up -d of every stack (cold, then again: a no-op pass),
    and one up -d after a change; prints and returns the seconds."""
    stacks = sorted(os.listdir(os.path.join(repo, "stacks")))
    projects = ["floor%s-%s" % (tag, s) for s in stacks]
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
    # One listing, no inspect per container: other test runs share the engine and
    # remove theirs meanwhile.
    rows = subprocess.run(["docker", "ps", "-a", "--filter", "label=com.docker.compose.project", "--format",
                           "{{.ID}} {{.Label \"com.docker.compose.project\"}}"],
                          check=True, capture_output=True, text=True).stdout.split("\n")
    mine = [row.split()[0] for row in rows if row.split()[1:2] and row.split()[1].startswith("floor%s-" % tag)]
    if mine:
        subprocess.run(["docker", "rm", "-f", *mine], capture_output=True)
    print("floor (plain %s, sequential): cold %.1f s, no-op pass %.1f s, one changed stack %.0f ms"
          % (" ".join(floor_compose()), cold, noop, one * 1000))
    return {"floor_cold": cold, "floor_noop": noop, "floor_one": one}


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


def api_load(app):
    """GET /api/stacks under wrk, and the same bytes as a static file from nginx."""
    load = wrk(app.url("/api/stacks"))
    if not load:
        return None
    body = app.raw("/api/stacks")
    with StaticFile(body) as nginx:
        floor_load = wrk(nginx.url())
    print("GET /api/stacks (%d bytes) under wrk -t2 -c32 -d10s: %.0f req/s, p99 %.2f ms; "
          "the same bytes from nginx: %.0f req/s, p99 %.2f ms (%.2f x)"
          % (len(body), load[0], load[1], floor_load[0], floor_load[1], load[0] / floor_load[0]))
    return {"api_rps": load[0], "api_p99": load[1], "api_bytes": len(body), "api_floor_rps": floor_load[0],
            "api_ratio": load[0] / floor_load[0]}


def container_ids(instance):
    return set(docker("ps", "-aq", "--no-trunc", "--filter", "label=io.docker-cd.instance=" + instance).split())


def run_once(run):
    """One whole scenario on fresh stacks; prints as it goes, returns the figures."""
    tag = "%d%s" % (os.getpid(), chr(ord("a") + run))
    prefix = "bench%s-" % tag
    instance = "bench-" + tag
    figures = {}
    repo = make_repo(N, prefix)
    data = tempfile.mkdtemp(prefix="dcd-bench-data-")
    env = {"GIT_REPO_URL": repo, "DEPLOY_DIR": "stacks", "DATA_DIR": data, "INSTANCE_NAME": instance,
           "WEBHOOK_SECRET": SECRET,
           "RECONCILE_CONCURRENCY": os.environ.get("RECONCILE_CONCURRENCY", "1"),
           "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")}
    if os.environ.get("COMPOSE_COMMAND"):
        env["COMPOSE_COMMAND"] = os.environ["COMPOSE_COMMAND"]
    floor_repo = tempfile.mkdtemp(prefix="dcd-bench-floor-")
    shutil.copytree(os.path.join(repo, "stacks"), os.path.join(floor_repo, "stacks"))
    # The floor runs first in even runs and last in odd ones, so neither side
    # always meets the engine right after the other's clean-up.
    if run % 2 == 0:
        figures.update(floor(floor_repo, tag))
    try:
        t = time.monotonic()
        app = DockerCd(env)
        wait("cold converge", lambda: all_synced(app), timeout=3600, poll=0.2)
        cold = time.monotonic() - t
        cpu = app.cpu_seconds()
        up_sum = app.metric("dockercd_compose_duration_seconds_sum", UP)
        config_sum = app.metric("dockercd_compose_duration_seconds_sum", CONFIG)
        print("stacks: %d, RECONCILE_CONCURRENCY=%s" % (N, env["RECONCILE_CONCURRENCY"]))
        print("cold converge: %.1f s (compose up time inside it: %.1f s, %.0f ms per stack; compose config "
              "%.1f s, %d runs, ahead of the workers); docker-cd CPU %.2f s"
              % (cold, up_sum, up_sum / N * 1000, config_sum, app.metric("dockercd_compose_runs_total", CONFIG),
                 cpu))
        figures.update(cold=cold, cold_cpu=cpu)

        # A commit that changes no stack: refresh, 0 keys, 0 compose runs.
        runs = app.metric("dockercd_compose_runs_total")
        before = app.get("/api/refresh")["last"]["finished_at"]
        write(repo, "README.md", "docs\n")
        commit(repo, "docs only")
        t = time.monotonic()
        app.post("/api/refresh")
        app.wait_refresh(before)
        docs_runs = app.metric("dockercd_compose_runs_total") - runs
        print("no-change commit: refresh round trip %.1f ms, compose runs %d"
              % ((time.monotonic() - t) * 1000, docs_runs))

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
        noop_runs = app.metric("dockercd_compose_runs_total")
        print("restart -> all %d synced from labels: %.0f ms; no-op pass: %d reconciles in %.1f ms total, "
              "compose runs %d" % (N, restart * 1000, count, total * 1000, noop_runs))
        figures.update(noop=total, noop_reconciles=count,
                       noop_compose_runs=noop_runs + docs_runs)

        # One stack changed, announced by a webhook -> synced at the new revision,
        # against its own compose up time (the overhead includes the change's
        # compose config); every other container must survive.
        overheads, latencies, recreated, per_change = [], [], [], []
        for i in range(5):
            name = "%s%03d" % (prefix, i)
            write(repo, "stacks/%s/.env" % name, "STACK=%d\nCHANGED=%d\n" % (i, i))
            rev = commit(repo, "change " + name)
            ids = container_ids(instance)
            up_before = app.metric("dockercd_compose_duration_seconds_sum", UP)
            runs_before = (app.metric("dockercd_compose_runs_total", CONFIG), app.metric("dockercd_compose_runs_total", UP))
            t = time.monotonic()
            status, _ = app.github_push(SECRET, "refs/heads/main", rev)
            assert status == 202, status
            wait("changed stack synced", lambda: (lambda s: s["status"] == "synced" and s["synced_revision"] == rev)(
                app.get("/api/stacks/" + name)))
            latency = time.monotonic() - t
            up = app.metric("dockercd_compose_duration_seconds_sum", UP) - up_before
            per_change.append("%d+%d" % (app.metric("dockercd_compose_runs_total", CONFIG) - runs_before[0],
                                         app.metric("dockercd_compose_runs_total", UP) - runs_before[1]))
            latencies.append(latency)
            overheads.append(latency - up)
            recreated.append(len(ids - container_ids(instance)))
        print("one stack changed (webhook) -> synced: " + summary(latencies))
        print("  of which not compose up -d (docker-cd overhead): " + summary(overheads)
              + " runs: " + " ".join("%.0f" % (o * 1000) for o in overheads))
        print("  containers recreated per change: " + " ".join(str(r) for r in recreated))
        print("  compose runs per change (config+up): " + " ".join(per_change))
        figures.update(one=statistics.median(latencies),
                       one_overhead=statistics.median(overheads), one_overhead_max=max(overheads),
                       recreated_max=max(recreated))

        # Drift: kill a container, wait until it runs again.
        heals = []
        for i in range(5):
            project = "%s%03d" % (prefix, 10 % N + i)
            cid = docker("ps", "-q", "--filter", "label=com.docker.compose.project=" + project)
            t = time.monotonic()
            docker("kill", cid)

            def running():
                return bool(docker("ps", "-q", "--filter", "label=com.docker.compose.project=" + project,
                                   "--filter", "status=running"))
            wait("healed", running, timeout=60)
            heals.append(time.monotonic() - t)
        print("drift kill -> running: " + summary(heals))
        figures.update(heal=statistics.median(heals), heal_max=max(heals))

        load = api_load(app)
        if load:
            figures.update(load)
        time.sleep(5)
        cpu = app.cpu_seconds()
        time.sleep(IDLE_SECONDS)
        idle_cpu = (app.cpu_seconds() - cpu) / IDLE_SECONDS * 100
        rss = app.rss_mib()
        print("idle with %d stacks: RSS %.1f MiB, CPU %.2f %% of one core over %d s"
              % (N, rss, idle_cpu, IDLE_SECONDS))
        figures.update(rss=rss, idle_cpu=idle_cpu)
        app.stop()
    finally:
        ids = container_ids(instance)
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    if "floor_cold" not in figures:
        figures.update(floor(floor_repo, tag))
    shutil.rmtree(floor_repo, ignore_errors=True)
    figures.update(cold_ratio=figures["cold"] / figures["floor_cold"],
                   one_ratio=figures["one"] / figures["floor_one"])
    print("against the floor: cold %.2f x, no-op pass %.5f x, one change %.2f x (its overhead %.0f ms)"
          % (figures["cold_ratio"], figures["noop"] / figures["floor_noop"], figures["one_ratio"],
             figures["one_overhead"] * 1000))
    return figures


MEDIANS = [
    ("floor cold (s)", "floor_cold", "%.1f"), ("docker-cd cold (s)", "cold", "%.1f"),
    ("cold / floor", "cold_ratio", "%.3f"), ("docker-cd CPU in cold (s)", "cold_cpu", "%.2f"),
    ("floor no-op pass (s)", "floor_noop", "%.1f"), ("no-op pass (ms)", "noop", "%.2f", 1000),
    ("no-op reconciles", "noop_reconciles", "%.0f"), ("compose runs, docs commit + no-op", "noop_compose_runs", "%.0f"),
    ("floor one up -d (ms)", "floor_one", "%.0f", 1000), ("one change -> synced (ms)", "one", "%.0f", 1000),
    ("one change / floor", "one_ratio", "%.2f"),
    ("one change overhead (ms)", "one_overhead", "%.0f", 1000),
    ("one change overhead, worst (ms)", "one_overhead_max", "%.0f", 1000),
    ("containers recreated per change, most", "recreated_max", "%.0f"),
    ("drift kill -> running (ms)", "heal", "%.0f", 1000), ("GET /api/stacks (req/s)", "api_rps", "%.0f"),
    ("GET /api/stacks p99 (ms)", "api_p99", "%.2f"), ("GET /api/stacks body (bytes)", "api_bytes", "%.0f"),
    ("same bytes from nginx (req/s)", "api_floor_rps", "%.0f"), ("GET /api/stacks / nginx", "api_ratio", "%.2f"), ("idle RSS (MiB)", "rss", "%.1f"),
    ("idle CPU (% of one core)", "idle_cpu", "%.2f"),
]


def main():
    results = []
    for run in range(RUNS):
        if RUNS > 1:
            print("--- run %d of %d" % (run + 1, RUNS))
        results.append(run_once(run))
        sys.stdout.flush()
    if RUNS > 1:
        print("--- medians of %d runs (N=%d, RECONCILE_CONCURRENCY=%s); every run in brackets"
              % (RUNS, N, os.environ.get("RECONCILE_CONCURRENCY", "1")))
        for label, key, fmt, *scale in MEDIANS:
            values = [r[key] * (scale[0] if scale else 1) for r in results if key in r]
            if values:
                print("%-40s %s  [%s]" % (label, fmt % statistics.median(values),
                                          " ".join(fmt % v for v in values)))


if __name__ == "__main__":
    main()
