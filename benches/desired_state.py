#!/usr/bin/env python3
"""Desired state from Git at scale (issue 3): first snapshot, no-change and
one-commit refreshes, and how fast POST /api/refresh answers.

    cargo build --release --bin docker-cd && python3 benches/desired_state.py [N]

Nothing is applied (RECONCILE_ENABLED=false); Docker is not needed."""

import sys
import time

from common import commit, refresh_seconds, summary, undeployed, write

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
RUNS = 20


def main():
    with undeployed(N) as (repo, app):
        first = app.wait_refresh(None)
        stacks = app.get("/api/stacks")["stacks"]
        assert len(stacks) == N, len(stacks)
        print("stacks: %d" % N)
        print("first snapshot (clone + scan + hash): %.1f ms" % (refresh_seconds(first) * 1000))

        last = first["last"]["finished_at"]
        nochange = []
        for _ in range(RUNS):
            app.post("/api/refresh")
            r = app.wait_refresh(last)
            last = r["last"]["finished_at"]
            nochange.append(refresh_seconds(r))
        print("no-change refresh: " + summary(nochange))

        onecommit = []
        for i in range(RUNS):
            write(repo, "stacks/s%03d/.env" % (i % N), "STACK=%d\nRUN=%d\n" % (i, i))
            rev = commit(repo, "change %d" % i)
            app.post("/api/refresh")
            r = app.wait_refresh(last)
            last = r["last"]["finished_at"]
            assert r["revision"] == rev, (r, rev)
            onecommit.append(refresh_seconds(r))
        print("one-commit refresh: " + summary(onecommit))

        answers = []
        for _ in range(200):
            t = time.perf_counter()
            status, _ = app.post("/api/refresh")
            answers.append(time.perf_counter() - t)
            assert status == 202
        print("POST /api/refresh answer (client-side, Python urllib): " + summary(answers))
        print("RSS after: %.1f MiB" % app.rss_mib())


if __name__ == "__main__":
    main()
