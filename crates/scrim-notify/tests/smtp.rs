//! E-mail delivery against a real SMTP server: Python's aiosmtpd on loopback
//! (tests/python/smtp_sink.py), which writes each message it accepts to a directory.
//!
//! Skipped with a message when aiosmtpd is not installed, unless `SCRIM_REQUIRE_AIOSMTPD=1`
//! (set by .ci/run once `pip install aiosmtpd` succeeded).

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use scrim_notify::{
    Channel, EmailChannel, FailureKind, Notification, Notifier, NotifierOptions, Outgoing,
    Severity, SmtpTls,
};

const PLANTED: &[&str] = &[
    "4111 1111 1111 1111",
    "jane.doe@example.com",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "hunter2secret",
    "203.0.113.42",
];

fn aiosmtpd_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("SCRIM_REQUIRE_AIOSMTPD").as_deref() != Ok("1"),
            "SCRIM_REQUIRE_AIOSMTPD=1 but `python3 -c 'import aiosmtpd'` fails"
        );
        eprintln!("skipped: aiosmtpd is not installed (python3 -m pip install aiosmtpd)");
    }
    ok
}

/// The sink process; killed when dropped.
struct Sink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sink {
    fn start() -> Sink {
        let dir = tempfile::tempdir().unwrap();
        // A free port: bound, read, released (the sink binds it next).
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/smtp_sink.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("python3");
        let mut sink = Sink { child, port, dir };
        // Ready when the port accepts connections: bounded retries, each a short wait for
        // the child to get there (or to have died).
        for _ in 0..200 {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return sink;
            }
            if let Ok(Some(status)) = sink.child.try_wait() {
                panic!("smtp_sink.py exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("smtp_sink.py did not listen on {port} within 10 s");
    }

    fn messages(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
    }
}

fn notifier() -> Notifier {
    let ca = rcgen::generate_simple_self_signed(vec!["unused.test".to_string()]).unwrap();
    Notifier::new(NotifierOptions {
        system_roots: false,
        extra_ca_pem: Some(ca.cert.pem().into_bytes()),
        timeout: Duration::from_secs(5),
        ..NotifierOptions::default()
    })
    .unwrap()
}

fn channel(port: u16) -> Channel {
    Channel::Email(EmailChannel {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "Scrim <scrim@example.test>".into(),
        to: vec!["ops@example.test".into(), "oncall@example.test".into()],
        ca_pem: None,
    })
}

fn notification() -> Notification {
    Notification {
        id: "ntf_mail0001".into(),
        tenant: "acme".into(),
        kind: "detection.failed_sign_ins".into(),
        severity: Severity::Warning,
        title: "Failed sign-ins for jane.doe@example.com".into(),
        summary: "12 failed sign-ins from 203.0.113.42; password=hunter2secret was tried.".into(),
        fields: vec![
            ("Attempts".into(), "12".into()),
            ("Card".into(), "4111 1111 1111 1111".into()),
            ("Key".into(), "sk_live_4eC39HqLyjWDarjtT1zdp7dc".into()),
        ],
        link: Some("https://scrim.example.test/t/acme/security".into()),
        time_unix: 1_772_366_400,
    }
}

/// The message's headers (unfolded) and its body, decoded from quoted-printable when so
/// encoded.
fn parse(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            headers.last_mut().unwrap().1.push_str(line.trim_start());
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let qp = headers.iter().any(|(k, v)| {
        k == "content-transfer-encoding" && v.eq_ignore_ascii_case("quoted-printable")
    });
    let body = if qp { decode_qp(body) } else { body.to_owned() };
    (headers, body.replace("\r\n", "\n"))
}

fn decode_qp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_arrives_redacted_with_subject_recipients_and_id() {
    if !aiosmtpd_available() {
        return;
    }
    let sink = Sink::start();
    let out = Outgoing::new(notification());
    let delivered = notifier()
        .deliver(&channel(sink.port), &out, 1_772_366_400)
        .await
        .unwrap();
    assert_eq!(delivered.status, Some(250));
    assert!(
        delivered.detail.starts_with("SMTP 250"),
        "{}",
        delivered.detail
    );

    // The server accepted it before answering 250, so the file is there now.
    let files = sink.messages();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    let (headers, body) = parse(&raw);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {raw}"))
    };
    assert_eq!(
        header("x-envelope-to"),
        "ops@example.test, oncall@example.test"
    );
    assert!(
        header("subject").starts_with("[Scrim] Failed sign-ins for "),
        "{raw}"
    );
    assert_eq!(header("to"), "ops@example.test, oncall@example.test");
    assert!(header("from").contains("scrim@example.test"));
    assert_eq!(header("message-id"), "<ntf_mail0001@notify.scrim.invalid>");
    assert_eq!(header("x-scrim-notification-id"), "ntf_mail0001");
    assert!(header("content-type").starts_with("text/plain"));
    for needle in [
        "Severity: warning\n",
        "Type: detection.failed_sign_ins\n",
        "Tenant: acme\n",
        "Attempts: 12\n",
        "Open in Scrim: https://scrim.example.test/t/acme/security\n",
        "Notification id: ntf_mail0001\n",
    ] {
        assert!(body.contains(needle), "{needle:?} not in {body}");
    }
    for planted in PLANTED {
        assert!(!raw.contains(planted), "{planted} in {raw}");
        assert!(!body.contains(planted), "{planted} in {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_smtp_server_is_a_retryable_failure() {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = notifier()
        .deliver(&channel(port), &Outgoing::new(notification()), 0)
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert_eq!(e.kind(), FailureKind::Unreachable);
    assert!(!e.to_string().contains("example.test"), "{e}");
}
