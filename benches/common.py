"""Shared helpers for the benchmark scripts: a git repository of N stacks, the
docker-cd release binary, and its API. Standard library only."""

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "docker-cd")
TEST_IMAGE = os.environ.get("DOCKER_CD_TEST_IMAGE", "docker-cd-test/busybox:1")


def git(repo, *args):
    return subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
         "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def write(repo, path, text):
    full = os.path.join(repo, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


def stack_compose(image):
    # network_mode: bridge: no network per project (Docker's default pools end near 30).
    # The test image's own service (exits 0 on stop); its 1 s healthcheck is off:
    # hundreds of containers each exec'ing a check every second would measure
    # the engine's exec path, not compose or docker-cd.
    return ("services:\n  app:\n    image: %s\n    network_mode: bridge\n    env_file: .env\n"
            "    healthcheck:\n      disable: true\n" % image)


# The compose v2 plugin binary, where tests/setup installs it.
COMPOSE_PLUGIN = "/usr/local/lib/docker/cli-plugins/docker-compose"


def floor_compose():
    """The floor's compose command: FLOOR_COMPOSE (words), else what docker-cd's
    auto-detection runs here (the v2 plugin binary), else docker-compose."""
    if os.environ.get("FLOOR_COMPOSE"):
        return os.environ["FLOOR_COMPOSE"].split()
    if os.path.isfile(COMPOSE_PLUGIN):
        return [COMPOSE_PLUGIN]
    return ["docker-compose"]


def make_repo(n, prefix, image=TEST_IMAGE):
    """A repository with n stacks under stacks/: compose.yaml, .env, config/app.conf."""
    repo = tempfile.mkdtemp(prefix="dcd-bench-repo-")
    git(repo, "init", "-q", "-b", "main")
    for i in range(n):
        base = "stacks/%s%03d" % (prefix, i)
        write(repo, base + "/compose.yaml", stack_compose(image))
        write(repo, base + "/.env", "STACK=%d\n" % i)
        write(repo, base + "/config/app.conf", "name = %d\n" % i)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "%d stacks" % n)
    return repo


def commit(repo, message):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DockerCd:
    """The release binary on a free loopback port."""

    def __init__(self, env):
        if not os.path.exists(BIN):
            raise SystemExit("build first: cargo build --release --bin docker-cd")
        self.port = free_port()
        full = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
                "LISTEN_ADDR": "127.0.0.1:%d" % self.port, "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
                "POLL_INTERVAL": "0"}
        full.update(env)
        self.log = tempfile.NamedTemporaryFile(prefix="dcd-bench-log-", delete=False)
        self.started = time.monotonic()
        self.proc = subprocess.Popen([BIN], env=full, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/healthz")
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("docker-cd did not start; log: " + self.log.name)
                time.sleep(0.01)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def raw(self, path):
        """The response body's bytes."""
        with urllib.request.urlopen(self.url(path), timeout=30) as r:
            return r.read()

    def get(self, path):
        with urllib.request.urlopen(self.url(path), timeout=30) as r:
            body = r.read()
            return json.loads(body) if r.headers.get_content_type() == "application/json" else body.decode()

    def post(self, path, body=b"", headers=None):
        req = urllib.request.Request(self.url(path), data=body, method="POST", headers=headers or {})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")

    def github_push(self, secret, ref, after):
        """A signed GitHub push webhook; returns (status, body)."""
        body = json.dumps({"ref": ref, "after": after}).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return self.post("/api/webhook", body, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                                                "X-Hub-Signature-256": signature})

    def metric(self, name, having=""):
        """Sum of every sample of `name` (all label sets, or those whose labels
        hold `having`, e.g. 'command="up"')."""
        total = 0.0
        for line in self.get("/metrics").splitlines():
            if (line.startswith(name + "{") or line.startswith(name + " ")) and having in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def cpu_seconds(self):
        """User + system CPU time the process has used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            # Fields after the command name (which may hold spaces): utime and stime are 12 and 13.
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def wait_refresh(self, after):
        """Waits for the refresh that finishes after `after`; returns /api/refresh."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            r = self.get("/api/refresh")
            last = r.get("last") or {}
            if last.get("finished_at") and last.get("finished_at") != after and r["state"] == "idle":
                return r
            time.sleep(0.002)
        raise SystemExit("refresh did not finish")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextlib.contextmanager
def undeployed(n):
    """docker-cd on a fresh repository of n stacks with reconciling off (Docker
    not needed); yields (repo, app) and removes everything afterwards."""
    repo = make_repo(n, "s")
    data = tempfile.mkdtemp(prefix="dcd-bench-data-")
    try:
        app = DockerCd({"GIT_REPO_URL": repo, "DEPLOY_DIR": "stacks", "DATA_DIR": data,
                        "RECONCILE_ENABLED": "false"})
        try:
            yield repo, app
        finally:
            app.stop()
    finally:
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


class StaticFile:
    """nginx serving `body` as a static file on a free loopback port: the HTTP
    floor of this machine for a response of that size (same keep-alive, no
    sendfile, like docker-cd's user-space write)."""

    def __init__(self, body, content_type="application/json"):
        self.dir = tempfile.mkdtemp(prefix="dcd-bench-nginx-")
        os.chmod(self.dir, 0o755)  # nginx's workers run as nobody
        with open(os.path.join(self.dir, "body"), "wb") as f:
            f.write(body)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("worker_processes auto; daemon off; pid %(d)s/nginx.pid; error_log %(d)s/error.log;\n"
                    "events { worker_connections 1024; }\n"
                    "http { access_log off; default_type %(t)s;\n"
                    "  server { listen 127.0.0.1:%(p)d; location / { root %(d)s; try_files /body =404; } } }\n"
                    % {"d": self.dir, "p": self.port, "t": content_type})
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(self.url(), timeout=5) as r:
                    r.read()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("nginx did not start; see " + self.dir)
                time.sleep(0.01)

    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def ts(text):
    """RFC 3339 with nanoseconds -> seconds since the epoch (float)."""
    main, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(main + "+00:00").timestamp()
    return seconds + (float("0." + frac) if frac else 0.0)


def refresh_seconds(status):
    last = status["last"]
    return ts(last["finished_at"]) - ts(last["started_at"])


def summary(values, unit="ms", scale=1000.0):
    v = sorted(x * scale for x in values)
    p99 = v[min(len(v) - 1, int(len(v) * 0.99))]
    return "median %.2f %s, min %.2f, p99 %.2f (n=%d)" % (statistics.median(v), unit, v[0], p99, len(v))
