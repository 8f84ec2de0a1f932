//! Redis for the shared-state checks: the one `.ci/redis-setup.sh` started
//! (`ROTA_REDIS_URL`), or a private server started here (`ROTA_REDIS_SERVER`, else
//! `redis-server` on PATH) for a check that kills and restarts it; and "hosts": a home and a
//! config of their own, sharing one Redis.

use super::{Fleet, Rig, rota_cmd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether a missing Redis fails the check instead of skipping it.
fn required() -> bool {
    std::env::var("ROTA_REDIS_REQUIRED").is_ok_and(|v| v == "1")
}

/// Says on stderr that `test` was skipped, or panics when Redis is required.
fn skip(test: &str, why: &str) {
    assert!(!required(), "{test}: ROTA_REDIS_REQUIRED=1 but {why}");
    eprintln!(
        "SKIPPED {test}: {why} (start one with: set -a; eval \"$(bash .ci/redis-setup.sh)\"; set +a)"
    );
}

/// The shared test Redis, or `None` (skipped, said on stderr).
pub fn url(test: &str) -> Option<String> {
    match std::env::var("ROTA_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(u) => Some(u),
        None => {
            skip(test, "ROTA_REDIS_URL is not set");
            None
        }
    }
}

/// A key prefix no other check uses.
pub fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("rota-test-{test}-{}-{nanos}", std::process::id())
}

/// A redis-server of this check's own, on a loopback port it keeps across restarts.
pub struct Server {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Server {
    /// Starts one, or `None` (skipped, said on stderr) when there is no redis-server.
    pub fn start(test: &str) -> Option<Server> {
        let binary = std::env::var_os("ROTA_REDIS_SERVER")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("PATH").and_then(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join("redis-server"))
                        .find(|b| b.is_file())
                })
            });
        let Some(binary) = binary else {
            skip(test, "no redis-server (ROTA_REDIS_SERVER, or on PATH)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = Server {
            binary,
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        s.restart();
        Some(s)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it again (after [`Server::kill`]) on the same port, empty, and waits until it
    /// answers.
    pub fn restart(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: Redis gone at once, with everything it held.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One machine of a team: its own home (data dir, ledger) and config file, its limits
/// shared through Redis; its clock moved by `skew_ms`.
pub struct Host {
    /// HOME and XDG_DATA_HOME.
    pub home: tempfile::TempDir,
    /// The config file.
    pub config: PathBuf,
    /// What `ROTA_TEST_CLOCK_OFFSET_MS` says for its processes.
    pub skew_ms: i64,
}

impl Host {
    /// A host of `rig`'s fleet whose `[state]` section is `state`.
    pub fn new(rig: &Rig, fleet: Fleet, state: &str, skew_ms: i64) -> Host {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("config.toml");
        let text = super::config_toml_with_state(
            fleet,
            &rig.sim.as_ref().unwrap().base_url("groq"),
            state,
        );
        rota::config::file::write_private(&config, &text).unwrap();
        Host {
            home,
            config,
            skew_ms,
        }
    }

    /// A `rota` command on this host.
    pub fn rota(&self, args: &[&str]) -> Command {
        let mut c = rota_cmd(self.home.path(), Some(&self.config), args);
        c.env("ROTA_TEST_CLOCK_OFFSET_MS", self.skew_ms.to_string());
        c
    }

    /// Runs `rota ARGS` on this host to its end.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.rota(args).output().unwrap()
    }
}

/// The `[state]` lines of a host on the Redis at `url` under `prefix`.
pub fn state(url: &str, prefix: &str) -> String {
    format!("backend = \"redis\"\nredis_url = \"{url}\"\nredis_prefix = \"{prefix}\"\n")
}
