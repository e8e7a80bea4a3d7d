//! The real `chatter` binary as a child process: started on a free port, stopped with
//! SIGTERM (or killed), its output captured.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

type Env<'a> = &'a [(&'a str, &'a str)];

/// The binary in `dir`, with an empty environment except PATH and HOME.
pub fn chatter(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatter"));
    cmd.current_dir(dir)
        .env_clear()
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for key in ["PATH", "HOME"] {
        if let Ok(value) = std::env::var(key) {
            cmd.env(key, value);
        }
    }
    cmd
}

fn collect(stream: Option<impl AsyncRead + Unpin + Send + 'static>) -> JoinHandle<String> {
    let mut stream = stream.expect("piped");
    tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// `chatter` (serve is the default) running in the background, its output captured.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub base: String,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

impl Server {
    /// Starts the binary on a free port and waits (10 s at most) until /health answers.
    pub async fn start(dir: &Path, env: Env<'_>) -> Server {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let mut cmd = chatter(dir);
        cmd.env("PORT", port.to_string()).envs(env.iter().copied());
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stdout, stderr) = (collect(child.stdout.take()), collect(child.stderr.take()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let base = format!("http://{addr}");
        let mut server = Server {
            child,
            addr,
            base,
            stdout,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let health = reqwest::Client::new().get(format!("{}/health", server.base));
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                let (out, err) = server.output().await;
                panic!("chatter exited during start-up ({status}): {out}{err}");
            }
            let res = health
                .try_clone()
                .unwrap()
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if res.is_ok_and(|r| r.status() == StatusCode::OK) {
                return server;
            }
            assert!(Instant::now() < deadline, "no /health within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn sigterm(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        assert!(kill.expect("kill -TERM").success());
    }

    /// Waits for the process to exit; fails (and kills it) after `limit`.
    pub async fn wait(&mut self, limit: Duration) -> ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!("chatter did not exit within {limit:?}");
            }
        }
    }

    /// stdout and stderr, once the process has ended (it is killed if it has not).
    pub async fn output(&mut self) -> (String, String) {
        let _ = self.child.kill().await;
        (
            (&mut self.stdout).await.unwrap(),
            (&mut self.stderr).await.unwrap(),
        )
    }

    /// SIGTERM, then a clean exit (status 0) within 10 s; returns stdout and stderr.
    pub async fn stop(mut self) -> (String, String) {
        self.sigterm();
        let status = self.wait(Duration::from_secs(10)).await;
        let (out, err) = self.output().await;
        assert!(status.success(), "after SIGTERM: {status}; {err}");
        (out, err)
    }
}

impl Server {
    /// Polls /ready until 200 (in a cluster: once it follows the bus); fails after 10 s.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = reqwest::Client::new();
        loop {
            let res = client.get(format!("{}/ready", self.base)).send().await;
            if res.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(Instant::now() < deadline, "no ready within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: the process dies without any cleanup, as in a crash.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill -KILL");
        let _ = self.child.wait().await;
    }
}
