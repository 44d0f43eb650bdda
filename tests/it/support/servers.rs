//! Real servers on loopback: for the transport tests `git daemon`, `git
//! http-backend` behind nginx + fcgiwrap with basic auth, and sshd with a key;
//! for the metrics tests Prometheus. Each runs in its own temporary folder on
//! a free port and is killed on drop.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::free_port;
use super::wait::wait_until_blocking;

/// Whether `program` can be run; under CI a missing one fails the test.
pub fn require_program(program: &str) -> bool {
    let found = Path::new(program).is_file()
        || Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !found {
        assert!(
            !super::in_ci(),
            "{program} is missing; tests/setup installs it"
        );
        eprintln!("skipped: {program} is not installed (tests/setup installs it)");
    }
    found
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    wait_until_blocking(
        &format!("{what} to listen on {port}"),
        Duration::from_secs(20),
        || match TcpStream::connect(("127.0.0.1", port)) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!(
                "{e}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )),
        },
    );
}

fn spawn(command: &mut Command, log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"))
}

/// A running server and its folder.
pub struct Server {
    /// The folder with its configuration, logs and repositories.
    pub dir: tempfile::TempDir,
    /// The port it listens on.
    pub port: u16,
    children: Vec<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Server {
    fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("dcd-srv-")
                .tempdir_in("/tmp")
                .expect("tempdir"),
            port: free_port(),
            children: Vec::new(),
        }
    }

    /// `<dir>/repos`: where served repositories live.
    pub fn repos(&self) -> PathBuf {
        self.dir.path().join("repos")
    }

    /// Puts a bare copy of `work_tree` at `repos/<name>`; returns its path.
    pub fn publish(&self, work_tree: &Path, name: &str) -> PathBuf {
        std::fs::create_dir_all(self.repos()).expect("repos dir");
        let target = self.repos().join(name);
        super::run_ok(
            Command::new("git")
                .args(["clone", "-q", "--bare"])
                .arg(work_tree)
                .arg(&target),
        );
        target
    }

    /// Pushes `main` of `work_tree` to the published copy `name`.
    pub fn push(&self, work_tree: &Path, name: &str) {
        super::run_ok(
            Command::new("git")
                .args(["push", "-q", "--force"])
                .arg(self.repos().join(name))
                .arg("main")
                .current_dir(work_tree),
        );
    }

    /// `git daemon` exporting `repos/`: `git://127.0.0.1:<port>/<name>`.
    pub fn git_daemon() -> Self {
        let mut server = Self::new();
        std::fs::create_dir_all(server.repos()).expect("repos dir");
        let log = server.dir.path().join("daemon.log");
        let child = spawn(
            Command::new("git")
                .arg("daemon")
                .arg(format!("--base-path={}", server.repos().display()))
                .args(["--export-all", "--reuseaddr", "--listen=127.0.0.1"])
                .arg(format!("--port={}", server.port))
                .arg(server.repos()),
            &log,
        );
        server.children.push(child);
        wait_for_port(server.port, "git daemon", &log);
        server
    }

    /// nginx + fcgiwrap + `git http-backend`, basic auth `user:password`:
    /// `http://127.0.0.1:<port>/<name>`.
    pub fn http_backend(user: &str, password: &str) -> Self {
        let mut server = Self::new();
        let dir = server.dir.path().to_path_buf();
        std::fs::create_dir_all(server.repos()).expect("repos dir");
        std::fs::create_dir_all(dir.join("tmp")).expect("tmp dir");
        // nginx reads `{PLAIN}` passwords: no hashing tool needed.
        std::fs::write(
            dir.join("htpasswd"),
            format!("{user}:{{PLAIN}}{password}\n"),
        )
        .expect("htpasswd");
        let socket = dir.join("fcgi.sock");
        let fcgi_log = dir.join("fcgiwrap.log");
        let fcgi = spawn(
            Command::new("fcgiwrap")
                .arg("-s")
                .arg(format!("unix:{}", socket.display())),
            &fcgi_log,
        );
        server.children.push(fcgi);
        wait_until_blocking(
            "fcgiwrap to create its socket",
            Duration::from_secs(20),
            || {
                if socket.exists() {
                    Ok(())
                } else {
                    Err(format!(
                        "no {}; log:\n{}",
                        socket.display(),
                        std::fs::read_to_string(&fcgi_log).unwrap_or_default()
                    ))
                }
            },
        );
        let d = dir.display();
        let config = format!(
            r#"daemon off;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp;
  proxy_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp;
  scgi_temp_path {d}/tmp;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      auth_basic "git";
      auth_basic_user_file {d}/htpasswd;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT {repos};
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO $uri;
      fastcgi_param REMOTE_USER $remote_user;
      fastcgi_pass unix:{socket};
    }}
  }}
}}
"#,
            port = server.port,
            repos = server.repos().display(),
            socket = socket.display(),
        );
        std::fs::write(dir.join("nginx.conf"), config).expect("nginx.conf");
        let log = dir.join("nginx.log");
        let nginx = spawn(
            Command::new("nginx")
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(dir.join("nginx.conf")),
            &log,
        );
        server.children.push(nginx);
        wait_for_port(server.port, "nginx", &dir.join("error.log"));
        server
    }

    /// Prometheus scraping `target` (`host:port`) every second:
    /// `http://127.0.0.1:<port>`. Not awaited: a test waits for its queries.
    pub fn prometheus(target: &str) -> Self {
        let mut server = Self::new();
        let dir = server.dir.path().to_path_buf();
        let config = format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: docker-cd\n    static_configs:\n      - targets: [\"{target}\"]\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus.yml");
        let child = spawn(
            Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    dir.join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{}", server.port)),
            &dir.join("prometheus.log"),
        );
        server.children.push(child);
        server
    }

    /// sshd accepting the returned client key for root:
    /// `ssh://root@127.0.0.1:<port><absolute path>`.
    pub fn sshd() -> (Self, PathBuf) {
        let mut server = Self::new();
        let dir = server.dir.path().to_path_buf();
        std::fs::create_dir_all(server.repos()).expect("repos dir");
        // sshd refuses to start without its privilege-separation folder.
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        for key in ["host_key", "client_key"] {
            super::run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(dir.join(key)),
            );
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys"))
            .expect("authorized_keys");
        let d = dir.display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n\
             StrictModes no\n",
            port = server.port
        );
        std::fs::write(dir.join("sshd_config"), config).expect("sshd_config");
        let log = dir.join("sshd.log");
        let sshd = spawn(
            Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(dir.join("sshd_config")),
            &log,
        );
        server.children.push(sshd);
        wait_for_port(server.port, "sshd", &log);
        let key = dir.join("client_key");
        (server, key)
    }
}
