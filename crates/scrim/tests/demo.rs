//! `scrim demo` opens on the web UI: the address and account it prints sign in, and the
//! services page shows the shop's services from the traffic it generates.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 exchange: status, `Set-Cookie` / `Location` headers, body.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    form: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_demo_opens_on_the_web_ui_with_data_to_look_at() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_scrim"))
        .args([
            "demo",
            "--http",
            "127.0.0.1:0",
            "--otlp-grpc",
            "127.0.0.1:0",
        ])
        .args(["--otlp-http", "127.0.0.1:0", "--traces-per-second", "20"])
        .args(["--duration", "120", "--data-dir"])
        .arg(dir.path())
        .env_remove("SCRIM_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("scrim demo starts");
    let mut demo = Demo(child);
    let stdout = demo.0.stdout.take().unwrap();
    // "  Open       http://127.0.0.1:PORT/   sign in as EMAIL / PASSWORD". The rest of its
    // output is read too, to the end: a closed pipe would make the demo's next line fail.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim_start().starts_with("Open") {
                let _ = tx.send(line);
            }
        }
    });
    let open = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the demo prints where to open it");
    let words: Vec<&str> = open.split_whitespace().collect();
    let url = words[1];
    let (email, password) = (words[5], words[7]);
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    // The address opens on the sign-in page.
    let (status, headers, _) = exchange(addr, "GET", "/", "", "");
    assert_eq!((status, header(&headers, "location")), (303, "/login"));
    let (status, headers, body) = exchange(addr, "GET", "/login", "", "");
    assert_eq!(status, 200);
    assert!(body.contains("Sign in to Scrim"));
    let login_cookie = header(&headers, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = login_cookie.split('=').nth(1).unwrap().to_owned();
    let form = format!(
        "csrf_token={token}&email={}&password={}",
        enc(email),
        enc(password)
    );
    let (status, headers, body) = exchange(addr, "POST", "/login", &login_cookie, &form);
    assert_eq!(status, 303, "{body}");
    let session = header(&headers, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // The shop's services appear as its traffic arrives (polled, bounded).
    let mut page = String::new();
    for _ in 0..120 {
        let (status, _, body) = exchange(addr, "GET", "/services?range=15m", &session, "");
        assert_eq!(status, 200, "{body}");
        page = body;
        if ["checkout", "frontend", "payments", "users"]
            .iter()
            .all(|s| page.contains(&format!(">{s}</a>")))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for s in ["checkout", "frontend", "payments", "users"] {
        assert!(page.contains(&format!(">{s}</a>")), "{s} in {page}");
    }
    // Nothing the shop planted reaches a page.
    for planted in ["4111 1111 1111 1111", "4111111111111111", "Hunter2Hunter2"] {
        assert!(!page.contains(planted), "{planted}");
    }
}
