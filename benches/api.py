#!/usr/bin/env python3
"""GET /api/stacks throughput and latency under wrk, N stacks (issue 7).

    cargo build --release --bin docker-cd && python3 benches/api.py [N]

The stacks are not deployed (RECONCILE_ENABLED=false): the list is built from
the snapshot and status table; benches/reconcile.py measures it with containers."""

import sys

from common import undeployed
from reconcile import api_load, wrk

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def main():
    with undeployed(N) as (_, app):
        app.wait_refresh(None)
        assert len(app.get("/api/stacks")["stacks"]) == N
        print("stacks: %d (not deployed)" % N)
        api_load(app)
        rps, p99 = wrk(app.url("/healthz"))
        print("GET /healthz (a tiny answer), wrk -t2 -c32 -d10s: %.0f req/s, p99 %.2f ms" % (rps, p99))


if __name__ == "__main__":
    main()
