#!/usr/bin/env python3
"""Compose's own time for one change, applied by docker-cd and by hand (issue 12).

One stack of the benchmark kind is changed COUNT times (`.env`, so compose
recreates its container) in three ways, and compose's time is printed for each:

- applied by docker-cd (refresh -> apply; `dockercd_compose_duration_seconds`),
  with the compose runs per change (must be 1),
- the same command by hand in docker-cd's working folder while a docker-cd with
  RECONCILE_ENABLED=false watches the engine (its informer re-lists on events),
- the same command by hand with no docker-cd running.

    tests/setup && cargo build --release --bin docker-cd && python3 benches/compose_inside.py [COUNT]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import COMPOSE_PLUGIN, DockerCd, commit, make_repo, write

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 10
INSTANCE = "bench-inside-%d" % os.getpid()
PREFIX = "inside%d-" % os.getpid()
MODEL = ".docker-cd.compose.json"  # the admitted model with docker-cd's labels


def wait(what, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise SystemExit("timed out: " + what)


def ms(values):
    return "median %.0f ms %s" % (statistics.median(values) * 1000, ["%.0f" % (v * 1000) for v in values])


def by_hand(workdir, project, tag):
    """COUNT changes of the model docker-cd last applied (its `.env` value, as
    compose resolved it), each applied with docker-cd's own compose command."""
    path = os.path.join(workdir, MODEL)
    times = []
    for i in range(COUNT):
        with open(path) as f:
            model = json.load(f)
        model["services"]["app"].setdefault("environment", {})["STACK"] = "%s%d" % (tag, i)
        with open(path, "w") as f:
            json.dump(model, f)
        t = time.monotonic()
        subprocess.run([COMPOSE_PLUGIN, "-p", project, "-f", MODEL, "up", "-d", "--remove-orphans"],
                       cwd=workdir, check=True, capture_output=True)
        times.append(time.monotonic() - t)
    return times


def main():
    repo = make_repo(1, PREFIX)
    data = tempfile.mkdtemp(prefix="dcd-bench-data-")
    env = {"GIT_REPO_URL": repo, "DEPLOY_DIR": "stacks", "DATA_DIR": data, "INSTANCE_NAME": INSTANCE}
    name = PREFIX + "000"
    app = DockerCd(env)
    try:
        wait("first apply", lambda: [s["status"] for s in app.get("/api/stacks")["stacks"]] == ["synced"])
        inside, runs = [], []
        for i in range(COUNT):
            write(repo, "stacks/%s/.env" % name, "STACK=change%d\n" % i)
            rev = commit(repo, "change %d" % i)
            seconds = app.metric("dockercd_compose_duration_seconds_sum")
            count = app.metric("dockercd_compose_runs_total")
            app.post("/api/refresh")
            wait("change applied", lambda: (lambda s: s["status"] == "synced" and s["synced_revision"] == rev)(
                app.get("/api/stacks/" + name)))
            inside.append(app.metric("dockercd_compose_duration_seconds_sum") - seconds)
            runs.append(int(app.metric("dockercd_compose_runs_total") - count))
        app.stop()
        workdir = os.path.join(data, "stacks", name)
        watcher = DockerCd(dict(env, RECONCILE_ENABLED="false"))
        watched = by_hand(workdir, name, "watched")
        watcher.stop()
        alone = by_hand(workdir, name, "alone")
        print("compose time of one change (recreate), %d changes each:" % COUNT)
        print("  applied by docker-cd:              %s; compose runs per change %s" % (ms(inside), runs))
        print("  by hand, docker-cd watching:       %s" % ms(watched))
        print("  by hand, no docker-cd:             %s" % ms(alone))
    finally:
        subprocess.run("docker ps -aq --filter label=io.docker-cd.instance=%s | xargs -r docker rm -f" % INSTANCE,
                       shell=True, capture_output=True)


if __name__ == "__main__":
    main()
