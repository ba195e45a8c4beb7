//! Helpers for the end-to-end tests: temporary data directories, running the real
//! `attach` binary (one-shot commands and long-running nodes), and a small JSON client.
//!
//! Nothing here sleeps to wait for a server: a node is ready when it has printed its
//! address and `/healthz` answers; both waits are bounded.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The `attach` binary cargo built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_attach");

/// How long a one-shot command (init, import, export, ...) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node may take to print its address and answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two polls of a process or `/healthz`.
const POLL: Duration = Duration::from_millis(25);

// ---------------------------------------------------------------------------
// Data directories
// ---------------------------------------------------------------------------

/// A fresh, empty data directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "attach-e2e-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        assert!(!path.exists(), "{} already exists", path.display());
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data dir as a command-line argument.
    pub fn arg(&self) -> &str {
        self.path.to_str().expect("temp paths are UTF-8 here")
    }

    /// A path for a scratch file next to (not inside) the store.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// `attach ARGS` with the given extra environment and no inherited `ATTACH_*` variables
/// (so a developer's own settings cannot change what the tests see).
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ATTACH_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Reads a pipe to the end on a thread, so the child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Kills and reaps a child on drop unless it has already been waited for.
#[derive(Debug)]
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child not yet reaped")
    }

    /// Polls until the child exits or `timeout` passes; `None` on timeout.
    fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child().try_wait().unwrap() {
                self.0 = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a finished one-shot command did.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with both streams unless the command succeeded.
    pub fn assert_success(self) -> Self {
        assert!(
            self.status.success(),
            "attach failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the command failed with a non-zero exit code.
    pub fn assert_failure(self) -> Self {
        assert!(
            !self.status.success() && self.status.code().is_some(),
            "attach should have exited non-zero ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `attach ARGS` to completion (at most `timeout`).
pub fn run_with(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Output {
    let mut cmd = command(args, env);
    let mut guard = ChildGuard(Some(cmd.spawn().unwrap()));
    let stdout = drain(guard.child().stdout.take().unwrap());
    let stderr = drain(guard.child().stderr.take().unwrap());
    let Some(status) = guard.wait_timeout(timeout) else {
        drop(guard); // kills it, closing the pipes
        panic!(
            "attach {args:?} did not finish within {timeout:?}; stderr:\n{}",
            stderr.join().unwrap_or_default()
        );
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

pub fn run(args: &[&str]) -> Output {
    run_with(args, &[], COMMAND_TIMEOUT)
}

/// A long-running `attach node` or `attach demo`, killed on drop.
#[derive(Debug)]
pub struct Server {
    guard: ChildGuard,
    pub addr: SocketAddr,
    /// Every stdout line so far (the reader thread keeps appending).
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Option<JoinHandle<String>>,
    /// Every stderr line so far (the log).
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `attach ARGS`, waits for the stdout line starting with `marker` (after
    /// trimming) that carries `http://ADDR`, then for `/healthz` to answer.
    pub fn start(args: &[&str], env: &[(&str, &str)], marker: &str) -> Self {
        let mut cmd = command(args, env);
        let mut guard = ChildGuard(Some(cmd.spawn().unwrap()));
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let stderr = {
            let log = log.clone();
            let err = guard.child().stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().push(line);
                }
                log.lock().unwrap().join("\n")
            })
        };
        let out = guard.child().stdout.take().unwrap();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = mpsc::channel();
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let addr = match wait_for_addr(&mut guard, &rx, marker) {
            Ok(addr) => addr,
            Err(why) => {
                drop(guard);
                panic!(
                    "attach {args:?} did not start: {why}\nstdout:\n{}\nstderr:\n{}",
                    lines.lock().unwrap().join("\n"),
                    stderr.join().unwrap_or_default()
                );
            }
        };
        let server = Self {
            guard,
            addr,
            stdout: lines,
            stderr: Some(stderr),
            log,
        };
        server.wait_healthy();
        server
    }

    /// `attach node --data-dir D --listen 127.0.0.1:0`.
    pub fn node(dir: &DataDir) -> Self {
        Self::start(
            &["node", "--data-dir", dir.arg(), "--listen", "127.0.0.1:0"],
            &[],
            "Attach node listening on",
        )
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    /// Waits (bounded) until some stdout line contains `needle`.
    pub fn wait_stdout(&self, needle: &str) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.stdout().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on stdout within {START_TIMEOUT:?}:\n{}",
                self.stdout()
            );
            std::thread::sleep(POLL);
        }
    }

    pub fn api(&self) -> Api {
        Api::new(&self.url())
    }

    /// The log (stderr) so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// How many log lines so far contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits (bounded by `timeout`) until at least `n` log lines contain `needle`.
    pub fn wait_log(&self, needle: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.log_count(needle) < n {
            assert!(
                Instant::now() < deadline,
                "fewer than {n} {needle:?} log lines within {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(POLL);
        }
    }

    /// The process id.
    pub fn pid(&mut self) -> u32 {
        self.guard.child().id()
    }

    /// SIGKILL: the process gets no chance to tidy up.
    pub fn kill9(mut self) {
        let pid = self.pid().to_string();
        let status = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        assert!(status.success(), "kill -KILL {pid} failed");
        let _ = self.guard.wait_timeout(STOP_TIMEOUT);
    }

    fn wait_healthy(&self) {
        let api = self.api();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match api.try_get("/healthz") {
                Ok((200, body)) => {
                    assert_eq!(body["status"], "ok", "{body}");
                    return;
                }
                Ok((status, body)) => panic!("/healthz answered {status}: {body}"),
                Err(_) if Instant::now() < deadline => std::thread::sleep(POLL),
                Err(e) => panic!("/healthz never answered on {}: {e}", self.addr),
            }
        }
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; returns its status,
    /// how long it took, and what it wrote to stderr.
    pub fn terminate(mut self) -> (ExitStatus, Duration, String) {
        let pid = self.guard.child().id().to_string();
        let started = Instant::now();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success(), "kill -TERM {pid} failed");
        let status = self.guard.wait_timeout(STOP_TIMEOUT);
        let took = started.elapsed();
        let Some(status) = status else {
            panic!("attach (pid {pid}) did not exit within {STOP_TIMEOUT:?} of SIGTERM");
        };
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        (status, took, stderr)
    }

    /// Stops the node gracefully and checks it exited cleanly.
    pub fn stop(self) {
        let (status, _, stderr) = self.terminate();
        assert!(
            status.success(),
            "node exited with {status}; stderr:\n{stderr}"
        );
    }
}

fn wait_for_addr(
    guard: &mut ChildGuard,
    rx: &Receiver<String>,
    marker: &str,
) -> Result<SocketAddr, String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match rx.recv_timeout(POLL) {
            Ok(line) if line.trim_start().starts_with(marker) => {
                let Some((_, rest)) = line.split_once("http://") else {
                    return Err(format!("no http:// in {line:?}"));
                };
                return rest
                    .trim_end_matches('/')
                    .trim()
                    .parse()
                    .map_err(|e| format!("bad address in {line:?}: {e}"));
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err("stdout closed before the address was printed".into());
            }
        }
        if let Some(status) = guard.child().try_wait().unwrap() {
            return Err(format!("exited early with {status}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("no {marker:?} line within {START_TIMEOUT:?}"));
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// A blocking JSON client over reqwest's async client, holding a bearer token once
/// signed in.
#[derive(Debug)]
pub struct Api {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    pub fn new(base: &str) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            rt,
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<(u16, Value)> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        self.rt.block_on(async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await?;
            let value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
            };
            Ok((status, value))
        })
    }

    /// Sends `Authorization: Bearer <token>` from now on (e.g. an admin token).
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    pub fn try_get(&self, path: &str) -> reqwest::Result<(u16, Value)> {
        self.send(reqwest::Method::GET, path, None)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.try_get(path).unwrap()
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).unwrap()
    }

    pub fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).unwrap()
    }

    pub fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).unwrap()
    }

    /// POST without a body.
    pub fn post_empty(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, None).unwrap()
    }

    /// Signs in; on success keeps the token and returns the session body.
    pub fn login(&mut self, username: &str, password: &str) -> (u16, Value) {
        let (status, body) = self.post(
            "/api/v1/session",
            &serde_json::json!({ "username": username, "password": password }),
        );
        if status == 200 {
            self.token = Some(body["token"].as_str().unwrap().to_owned());
            return (status, body["session"].clone());
        }
        (status, body)
    }

    /// Changes the signed-in user's password; panics unless the node accepts it.
    pub fn change_password(&self, current: &str, new: &str) {
        let (status, body) = self.post(
            "/api/v1/session/password",
            &serde_json::json!({ "current_password": current, "new_password": new }),
        );
        assert_eq!(status, 204, "changing the password: {body}");
    }
}

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

/// A valid BC PHN near `body` (the first body at or after it with a check digit).
pub fn phn(body: u32) -> String {
    const WEIGHTS: [u32; 8] = [2, 4, 8, 5, 10, 9, 7, 3];
    (body..)
        .find_map(|b| {
            let digits = format!("{b:08}");
            let sum: u32 = digits
                .bytes()
                .zip(WEIGHTS)
                .map(|(d, w)| (u32::from(d - b'0') * w) % 11)
                .sum();
            match 11 - sum % 11 {
                10 => None,
                11 => Some(format!("9{digits}0")),
                c => Some(format!("9{digits}{c}")),
            }
        })
        .unwrap()
}

/// The same PHN with a wrong check digit.
pub fn bad_phn(body: u32) -> String {
    let good = phn(body);
    let last = good.as_bytes()[9] - b'0';
    format!("{}{}", &good[..9], (last + 1) % 10)
}

/// The value after `label` on the first stdout line containing it, trimmed.
pub fn field_after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.split_once(label).map(|(_, v)| v.trim()))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
}
