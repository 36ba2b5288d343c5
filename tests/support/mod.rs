//! Test support: run the binary, read its JSON, and servers that misbehave on purpose.
//! Everything listens on 127.0.0.1 port 0.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use api_cannon::demo::DemoServer;
use serde_json::Value;

pub fn demo() -> DemoServer {
    DemoServer::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), 7).expect("demo server starts")
}

pub fn cannon() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_api-cannon"));
    command.env_remove("HTTP_PROXY").env_remove("HTTPS_PROXY");
    command
}

/// A folder removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "api-cannon-test-{}-{label}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }

    /// Writes an executable script; returns its path as text (for a command line).
    pub fn write_script(&self, name: &str, text: &str) -> String {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.write(name, text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a finished run left: exit code, stderr, and the results file parsed.
pub struct Run {
    pub code: Option<i32>,
    pub stderr: String,
    pub stdout: String,
    pub results: Option<Value>,
}

impl Run {
    pub fn json(&self) -> &Value {
        self.results
            .as_ref()
            .unwrap_or_else(|| panic!("no results; stderr:\n{}", self.stderr))
    }

    pub fn endpoint(&self, name: &str) -> &Value {
        self.json()["endpoints"]
            .as_array()
            .and_then(|all| all.iter().find(|e| e["name"] == name))
            .unwrap_or_else(|| panic!("no endpoint {name} in {}", self.json()))
    }
}

/// Runs `api-cannon run ARGS -q -o DIR/results.json` and reads the results.
pub fn run(dir: &TempDir, args: &[&str]) -> Run {
    let out = dir.join("results.json");
    let _ = std::fs::remove_file(&out);
    let output = cannon()
        .arg("run")
        .args(args)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("binary runs");
    finish(output, &out)
}

pub fn finish(output: Output, results: &Path) -> Run {
    let results = std::fs::read(results).ok().map(|bytes| {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("results are not JSON: {e}"))
    });
    Run {
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        results,
    }
}

/// What a raw TCP server does with each connection.
#[derive(Clone, Copy, Debug)]
pub enum Misbehaviour {
    /// Accept, read the request, close without answering.
    Drop,
    /// Answer with bytes that are not HTTP.
    Garbage,
    /// Promise a 1000-byte body, send 10 bytes, close.
    ShortBody,
    /// Answer properly with `Connection: close`, then close.
    CloseAfterResponse,
}

/// A server on 127.0.0.1 that misbehaves the same way on every connection.
pub struct RawServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl RawServer {
    pub fn start(behaviour: Misbehaviour) -> RawServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        std::thread::spawn(move || misbehave(stream, behaviour));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        RawServer { addr, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn misbehave(mut stream: std::net::TcpStream, behaviour: Misbehaviour) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf);
    let reply: &[u8] = match behaviour {
        Misbehaviour::Drop => b"",
        Misbehaviour::Garbage => b"this is not HTTP at all\r\n\r\n",
        Misbehaviour::ShortBody => b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789",
        Misbehaviour::CloseAfterResponse => {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
        }
    };
    let _ = stream.write_all(reply);
    let _ = stream.flush();
}

/// A port with nothing listening (bound, then released).
pub fn refused_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The results schema, docs/results.schema.json.
pub fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/results.schema.json"
    ))
    .unwrap();
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// Fails with every violation when `results` does not match the schema.
pub fn assert_valid(results: &Value) {
    let validator = validator();
    let errors: Vec<String> = validator
        .iter_errors(results)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "results do not match docs/results.schema.json:\n{}",
        errors.join("\n")
    );
}

/// A minimal HTTP proxy on 127.0.0.1: CONNECT tunnels and absolute-form requests, each
/// forwarded byte for byte; it counts both.
pub struct ProxyServer {
    pub addr: SocketAddr,
    pub tunnels: Arc<std::sync::atomic::AtomicU64>,
    pub forwarded: Arc<std::sync::atomic::AtomicU64>,
    /// The head of the last request (CONNECT or forwarded) the proxy received.
    pub last_head: Arc<std::sync::Mutex<String>>,
}

impl ProxyServer {
    pub fn start() -> ProxyServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let tunnels = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let forwarded = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let last_head = Arc::new(std::sync::Mutex::new(String::new()));
        let (t, f, h) = (
            Arc::clone(&tunnels),
            Arc::clone(&forwarded),
            Arc::clone(&last_head),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (t, f, h) = (Arc::clone(&t), Arc::clone(&f), Arc::clone(&h));
                std::thread::spawn(move || proxy_one(stream, &t, &f, &h));
            }
        });
        ProxyServer {
            addr,
            tunnels,
            forwarded,
            last_head,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn proxy_one(
    mut client: std::net::TcpStream,
    tunnels: &std::sync::atomic::AtomicU64,
    forwarded: &std::sync::atomic::AtomicU64,
    last_head: &std::sync::Mutex<String>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    if let Ok(mut last) = last_head.lock() {
        *last = String::from_utf8_lossy(&head).into_owned();
    }
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let upstream_addr = match method {
        "CONNECT" => target.to_owned(),
        _ => target
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
    };
    let Ok(mut upstream) = std::net::TcpStream::connect(&upstream_addr) else {
        return;
    };
    if method == "CONNECT" {
        tunnels.fetch_add(1, Ordering::Relaxed);
        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    } else {
        forwarded.fetch_add(1, Ordering::Relaxed);
        let _ = upstream.write_all(&head);
    }
    let (Ok(mut client_read), Ok(mut upstream_write)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
}

/// What a [`ScriptedServer`] answers to one request.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// The status code (0: 200).
    pub status: u16,
    /// Slept before answering.
    pub delay: Duration,
    /// Extra header lines (`name`, `value`); a name may repeat.
    pub headers: Vec<(String, String)>,
    /// The body (sent with a Content-Length).
    pub body: String,
}

/// An HTTP/1.1 keep-alive server on 127.0.0.1 whose every answer a test scripts: `reply`
/// gets the request's number (0-based, across connections) and path.
pub struct ScriptedServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

type Script = dyn Fn(u64, &str) -> Reply + Send + Sync;

impl ScriptedServer {
    pub fn start(reply: impl Fn(u64, &str) -> Reply + Send + Sync + 'static) -> ScriptedServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let script: Arc<Script> = Arc::new(reply);
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (script, count) = (Arc::clone(&script), Arc::clone(&count));
                        std::thread::spawn(move || serve_scripted(stream, &*script, &count));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        ScriptedServer { addr, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Answers requests without bodies (GET) on one connection until the client closes it.
fn serve_scripted(
    stream: std::net::TcpStream,
    script: &Script,
    count: &std::sync::atomic::AtomicU64,
) {
    use std::io::BufRead;
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = std::io::BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        let reply = script(count.fetch_add(1, Ordering::Relaxed), &path);
        std::thread::sleep(reply.delay);
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            if reply.status == 0 { 200 } else { reply.status },
            reply.body.len()
        );
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(reply.body.as_bytes()).is_err()
        {
            return;
        }
    }
}

/// Runs a command and gives its exit code, failing if it is still going after `limit`.
pub fn exit_code_within(command: &mut std::process::Command, limit: Duration) -> Option<i32> {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waits") {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {limit:?}: {command:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `IP:PORT` a child started with `--metrics-listen` says it listens on (read from its
/// stderr, which is drained afterwards so the child never blocks on a full pipe).
pub fn metrics_address(child: &mut std::process::Child) -> String {
    use std::io::BufRead as _;
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("metrics: http://")?
                .strip_suffix("/metrics")
                .map(str::to_owned)
        })
        .expect("says where it listens");
    std::thread::spawn(move || for _ in lines {});
    address
}
