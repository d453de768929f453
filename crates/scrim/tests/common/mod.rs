//! What the end-to-end tests share: running `scrim` as a child process that announces
//! readiness on stderr, and the OpenTelemetry Python SDK sender with its planted secrets.
#![allow(dead_code)] // each test binary uses a part

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Failsafe deadline for anything the tests wait for.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// What a child's stderr reader reports.
enum Event<T> {
    Ready(T),
    Exited,
}

/// A `scrim …` child process with stderr captured and no `SCRIM_*` variable inherited;
/// killed (SIGKILL) and reaped on drop, so a failing test leaves nothing running. `T` is
/// what its readiness line says (addresses), parsed by the function given to `spawn`.
pub struct ScrimProcess<T> {
    child: Child,
    events: mpsc::Receiver<Event<T>>,
    /// Everything the process wrote on stderr so far.
    log: Arc<Mutex<String>>,
    name: String,
}

impl<T: Send + 'static> ScrimProcess<T> {
    pub fn spawn(args: &[String], ready: fn(&str) -> Option<T>) -> ScrimProcess<T> {
        Self::spawn_with_env(args, &[], ready)
    }

    /// `spawn`, with `env` set after the `SCRIM_*` variables are cleared.
    pub fn spawn_with_env(
        args: &[String],
        env: &[(&str, &str)],
        ready: fn(&str) -> Option<T>,
    ) -> ScrimProcess<T> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scrim"));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info");
        for (k, _) in std::env::vars() {
            if k.starts_with("SCRIM_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        let name = format!("scrim {}", args.first().map(String::as_str).unwrap_or(""));
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, events) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addrs) = ready(&line) {
                    let _ = tx.send(Event::Ready(addrs));
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
            let _ = tx.send(Event::Exited);
        });
        ScrimProcess {
            child,
            events,
            log,
            name,
        }
    }

    /// Waits for the readiness line.
    pub fn wait_ready(&self) -> T {
        match self.events.recv_timeout(DEADLINE) {
            Ok(Event::Ready(addrs)) => addrs,
            Ok(Event::Exited) | Err(_) => {
                panic!("{} did not start:\n{}", self.name, self.log())
            }
        }
    }

    /// Waits for the process to end by itself (its stderr closes), then reaps it.
    pub fn wait_exit(mut self) -> (ExitStatus, String) {
        loop {
            match self.events.recv_timeout(DEADLINE) {
                Ok(Event::Exited) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Event::Ready(_)) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{} did not exit:\n{}", self.name, self.log())
                }
            }
        }
        let status = self.child.wait().expect("wait");
        (status, self.log())
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (a clean stop), then wait for the exit.
    pub fn terminate(self) -> (ExitStatus, String) {
        // `kill -TERM`: std offers only SIGKILL.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait_exit()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl<T> Drop for ScrimProcess<T> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `scrim serve` announces on stderr when it is ready.
#[derive(Debug, Clone, Copy)]
pub struct ServeAddrs {
    pub api: std::net::SocketAddr,
    pub grpc: std::net::SocketAddr,
    pub http: std::net::SocketAddr,
}

/// Parses `scrim serve: API http://A, OTLP/gRPC B, OTLP/HTTP C` (crates/scrim/src/main.rs).
pub fn parse_serve_ready(line: &str) -> Option<ServeAddrs> {
    let rest = line.strip_prefix("scrim serve: API http://")?;
    let (api, rest) = rest.split_once(", OTLP/gRPC ")?;
    let (grpc, http) = rest.split_once(", OTLP/HTTP ")?;
    Some(ServeAddrs {
        api: api.parse().ok()?,
        grpc: grpc.parse().ok()?,
        http: http.trim().parse().ok()?,
    })
}

/// A trace or span id as the API writes it: lowercase hex.
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// The OpenTelemetry Python SDK

pub use scrim_testkit::python;

/// True when the Python SDK can be used; otherwise prints why `test` is skipped (or, with
/// `SCRIM_REQUIRE_PYTHON_OTEL` set, fails).
pub fn python_sdk_available(test: &str) -> bool {
    scrim_testkit::python_package_available(test, &scrim_testkit::OTEL_SDK)
}

/// Spans and log records tests/python/send_secrets.py sends per transport.
pub const PER_TRANSPORT: usize = 25;

/// Runs tests/python/send_secrets.py against `grpc` and `http` (`http://host:port`), with
/// `OTEL_EXPORTER_OTLP_HEADERS` set to `headers` when given (as an application would).
pub async fn send_secrets(grpc: String, http: String, headers: Option<String>) -> Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/send_secrets.py");
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(python());
        cmd.arg(script)
            .arg(grpc)
            .arg(http)
            .arg(PER_TRANSPORT.to_string())
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL");
        if let Some(h) = headers {
            cmd.env("OTEL_EXPORTER_OTLP_HEADERS", h);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

/// Every secret tests/python/send_secrets.py plants (keep the two lists together).
pub const PLANTED: &[&str] = &[
    // SQL literals (db.query.text, db.statement)
    "alice.sql@example.com",
    "123-45-6789",
    "Mallory",
    "4111111111111111",
    // url.full: userinfo and query values
    "hunter2pass",
    "bob:",
    "tok_live_9f8e7d6c5b4a",
    // client.address
    "198.51.100.77",
    // http.request.body
    "Sup3rS3cret!",
    "5500 0000 0000 0004",
    // exception event
    "dave@example.org",
    "4111 1111 1111 1111",
    // enduser.id (pseudonymised)
    "user-erin-42",
    // Authorization header attribute (the JWT's parts)
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
    // free text
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "AKIAIOSFODNN7EXAMPLE",
    // status message
    "heidi@example.com",
    // resource attribute
    "ops-lead@example.com",
    // log bodies and attributes
    "frank@example.net",
    "203.0.113.99",
    "Hunter2Hunter2",
    "grace@example.com",
    "s3cr3tcookie",
    "DE89370400440532013000",
];

/// A plain HTTP/1.1 request (blocking, `Connection: close`): status code and body.
pub fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let auth = bearer
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Runs `scrim ARGS` to completion; panics with its output unless it succeeds. Returns
/// stdout.
pub fn scrim_ok(args: &[&str]) -> String {
    scrim_ok_env(args, &[])
}

/// Runs `scrim ARGS` to completion with `env` set (after `SCRIM_MASTER_KEY` is cleared),
/// whatever its exit status.
pub fn scrim_output(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scrim"))
        .args(args)
        .env_remove("SCRIM_MASTER_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("run scrim")
}

/// `scrim_ok` with `env` set (after `SCRIM_MASTER_KEY` is cleared).
pub fn scrim_ok_env(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = scrim_output(args, env);
    assert!(
        out.status.success(),
        "scrim {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A server in `dir` takes the demo shop's traffic and writes it to segments; returns the
/// tenant's name and the spans and log records sent.
pub async fn stored_shop(dir: &std::path::Path) -> (String, usize, usize) {
    let mut config =
        scrim_server::ServerConfig::loopback_ephemeral(scrim_server::PlatformConfig::in_dir(dir));
    config.flush_interval = Duration::from_secs(3600);
    let server = scrim_server::Server::start(config)
        .await
        .expect("server starts");
    let t = scrim_server::admin::demo_tenant(server.platform())
        .await
        .unwrap();
    let mut c = scrim_otlp::ExporterConfig::new(
        format!("http://{}", server.otlp_http_addr().unwrap()),
        scrim_otlp::Protocol::HttpProtobuf,
    );
    c.allow_http = true;
    c.headers.push((
        "authorization".into(),
        scrim_otlp::Credential::new(format!("Bearer {}", t.ingest_key)),
    ));
    let exporter = scrim_otlp::Exporter::new(c).unwrap();
    let mut g = scrim_demo::Generator::new(21);
    let now = std::time::SystemTime::now() - Duration::from_secs(30);
    let (mut spans, mut logs) = (0, 0);
    for i in 0..3 {
        for batch in g.tick(20, now + Duration::from_secs(i), false) {
            match &batch {
                scrim_otlp::Batch::Traces(r) => {
                    spans += r
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .map(|s| s.spans.len())
                        .sum::<usize>()
                }
                scrim_otlp::Batch::Logs(r) => {
                    logs += r
                        .resource_logs
                        .iter()
                        .flat_map(|r| &r.scope_logs)
                        .map(|s| s.log_records.len())
                        .sum::<usize>()
                }
                scrim_otlp::Batch::Metrics(_) => {}
            }
            let outcome = exporter.export(&batch).await;
            assert!(
                matches!(outcome, scrim_otlp::ExportOutcome::Delivered { .. }),
                "{outcome:?}"
            );
        }
    }
    // Shutting down flushes every buffered row to segments.
    server.shutdown().await;
    (t.tenant, spans, logs)
}
