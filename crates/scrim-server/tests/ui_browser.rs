//! The web UI in a real browser: Debian's Chromium, driven through chromedriver (WebDriver)
//! by fantoccini. One person's path through it: sign in with a password and an
//! authenticator code, find a trace of the demo shop, open its waterfall, see the redacted
//! SQL statement, change the capture policy (with the live preview, which needs htmx to run
//! under the page's Content-Security-Policy) and find the change in the audit log.
//!
//! Screenshots of each step are kept in `<target>/tmp/ui-screenshots/` (printed).
//!
//! Needs `chromium` and `chromedriver` (`SCRIM_CHROMIUM`, `SCRIM_CHROMEDRIVER`, else
//! `/usr/bin/…`). Without them the test passes with the reason printed, unless
//! `SCRIM_REQUIRE_BROWSER=1` (set by `.ci/run` once it installed them).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{PASSWORD, call, code_now, send_shop_at, world};
use fantoccini::{Client, ClientBuilder, Locator};
use scrim_auth::Scopes;
use serde_json::json;

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    path.exists().then_some(path)
}

/// Chromium and chromedriver, or `None` with the reason printed.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let found = (
        tool("SCRIM_CHROMIUM", "/usr/bin/chromium"),
        tool("SCRIM_CHROMEDRIVER", "/usr/bin/chromedriver"),
    );
    match found {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            let why = "browser test skipped: chromium and chromedriver not found \
                       (apt-get install chromium chromium-driver, or set SCRIM_CHROMIUM / SCRIM_CHROMEDRIVER)";
            assert!(
                std::env::var("SCRIM_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "{why}, and SCRIM_REQUIRE_BROWSER=1"
            );
            eprintln!("{why}");
            None
        }
    }
}

async fn start_driver(driver: &PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let d = Driver { child, port };
    // Ready when it accepts connections: polled, bounded.
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not listen on {port}");
}

async fn connect(d: &Driver, chromium: &PathBuf) -> Client {
    // fantoccini's client is built with rustls; chromedriver is plain HTTP on loopback, but
    // the builder wants a process-wide provider all the same.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--window-size=1400,1000",
                "--no-first-run", "--no-default-browser-check",
            ],
        }),
    );
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", d.port))
        .await
        .expect("a WebDriver session")
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = shots_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_mfa_explore_a_redacted_trace_and_audit_a_policy_change() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let w = world().await;
    let owner = w
        .people
        .iter()
        .find(|(r, _, _)| *r == scrim_auth::rbac::Role::Owner)
        .unwrap();
    let (email, owner_cred) = (owner.1.clone(), owner.2.clone());
    // The owner enrols an authenticator (over the API), so signing in takes a code.
    let begun = call(
        &w.server,
        "POST",
        "/api/v1/me/mfa/totp",
        &owner_cred,
        Some(json!({})),
    )
    .await;
    assert_eq!(begun.status, 200, "{}", begun.body);
    let secret = begun.body["secret"].as_str().unwrap().to_owned();
    let confirmed = call(
        &w.server,
        "POST",
        "/api/v1/me/mfa/totp/confirm",
        &owner_cred,
        Some(json!({ "code": code_now(&secret, 0) })),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    // The demo shop's traffic of the last minute.
    let (_, ingest) = w
        .server
        .platform()
        .meta()
        .create_api_key(
            &w.tenant,
            "ingest".parse::<Scopes>().unwrap(),
            scrim_meta::NewApiKey::default(),
        )
        .await
        .unwrap();
    let ingest = ingest.expose();
    send_shop_at(
        &w.server,
        &ingest,
        7,
        10,
        SystemTime::now() - Duration::from_secs(60),
    )
    .await;

    let d = start_driver(&driver).await;
    let c = connect(&d, &chromium).await;
    let base = format!("http://{}", w.server.http_addr());

    // 1. Sign in: password, then the authenticator code on a second page.
    c.goto(&format!("{base}/")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    fill(&c, "input[name=email]", &email).await;
    fill(&c, "input[name=password]", PASSWORD).await;
    shot(&c, "01-sign-in").await;
    click(&c, "form[action='/login'] button[type=submit]").await;
    let code_box = c
        .wait()
        .for_element(Locator::Css("input[name=code]"))
        .await
        .expect("the code step");
    assert!(c.source().await.unwrap().contains("authenticator"));
    // The next time step's code: enrolment used this step's, and a code works once.
    code_box.send_keys(&code_now(&secret, 1)).await.unwrap();
    shot(&c, "02-code").await;
    click(&c, "form[action='/login/code'] button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css("nav.side"))
        .await
        .expect("signed in");
    assert_eq!(c.current_url().await.unwrap().path(), "/services");
    let services = text_of(&c, "main table").await;
    for s in ["checkout", "frontend", "payments", "users"] {
        assert!(services.contains(s), "{s} in {services}");
    }
    // htmx runs: the only script source the policy allows is this server.
    let htmx = c.execute("return typeof htmx", vec![]).await.unwrap();
    assert_eq!(htmx, json!("object"), "htmx loaded under the CSP");
    shot(&c, "03-services").await;

    // 2. Find a trace with a database statement, and open its waterfall.
    c.goto(&format!(
        "{base}/traces?attr=db.system%3Dpostgresql&range=1h"
    ))
    .await
    .unwrap();
    shot(&c, "04-traces").await;
    let first = c
        .find(Locator::Css("main table tbody tr td a[href^='/traces/']"))
        .await
        .expect("a trace with a PostgreSQL statement");
    first.click().await.unwrap();
    c.wait()
        .for_element(Locator::Css(".waterfall"))
        .await
        .expect("the waterfall");
    let spans = c
        .find_all(Locator::Css(".waterfall details.span"))
        .await
        .unwrap();
    assert!(spans.len() >= 2, "{} spans", spans.len());
    // Spans open from the keyboard: Enter on a focused summary.
    let first_summary = c
        .find(Locator::Css(".waterfall details.span summary"))
        .await
        .unwrap();
    first_summary.send_keys("\u{E007}").await.unwrap();
    let opened = c
        .find(Locator::Css(".waterfall details.span"))
        .await
        .unwrap()
        .attr("open")
        .await
        .unwrap();
    assert!(opened.is_some(), "Enter opens a span's details");
    // The span with the statement: open it and read the statement as stored.
    let summary = c
        .find(Locator::XPath(
            "//details[.//dt[text()='db.system']/following-sibling::dd[1][normalize-space(.)='postgresql']]\
             [.//dt[text()='db.statement']]/summary",
        ))
        .await
        .expect("a PostgreSQL span with db.statement");
    summary.click().await.unwrap();
    let statement = c
        .find(Locator::XPath(
            "//details[@open]//dt[text()='db.statement']/following-sibling::dd[1]",
        ))
        .await
        .expect("the opened statement");
    let text = statement.text().await.unwrap();
    assert!(text.contains('?'), "literals replaced: {text}");
    assert!(!text.contains('@'), "no e-mail address: {text}");
    let mark = statement
        .find(Locator::Css("mark.redacted"))
        .await
        .expect("the removed literal is marked");
    let why = mark.attr("title").await.unwrap().unwrap_or_default();
    assert!(why.contains("literal"), "{why}");
    shot(&c, "05-waterfall").await;

    // 3. Change the capture policy, with the live preview first.
    c.goto(&format!("{base}/privacy")).await.unwrap();
    let draft = "[client_ips]\nmethod = \"drop\"\n";
    fill(&c, "#policy", draft).await;
    fill(
        &c,
        "#preview-form textarea[name=input]",
        "{\"password\": \"hunter2\", \"note\": \"mail ann@example.com\"}",
    )
    .await;
    let kind = c
        .find(Locator::Css("#preview-form select[name=kind]"))
        .await
        .unwrap();
    kind.select_by_value("json").await.unwrap();
    // htmx swaps the preview in: wait until it shows the JSON body redacted.
    let mut preview = String::new();
    for _ in 0..100 {
        preview = text_of(&c, "#preview").await;
        if preview.contains("password") && preview.contains("REDACTED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(preview.contains("\"password\""), "{preview}");
    assert!(!preview.contains("hunter2"), "{preview}");
    assert!(!preview.contains("ann@example.com"), "{preview}");
    shot(&c, "06-privacy-preview").await;
    click(&c, "button[name=action][value=save]").await;
    c.wait()
        .for_element(Locator::Css("p.notice[role=status]"))
        .await
        .expect("saved");
    assert!(
        text_of(&c, "p.notice[role=status]")
            .await
            .contains("Capture policy saved")
    );
    assert!(
        c.find(Locator::Css("#policy"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
            .contains("method = \"drop\""),
        "the saved policy is shown"
    );

    // 4. The change is in the audit log, by the owner.
    c.goto(&format!(
        "{base}/audit?action=settings.capture_policy_change"
    ))
    .await
    .unwrap();
    let audit = text_of(&c, "main table").await;
    assert!(audit.contains("settings.capture_policy_change"), "{audit}");
    assert!(audit.contains("success"), "{audit}");
    assert!(
        audit.contains("drop"),
        "the diff shows the new value: {audit}"
    );
    shot(&c, "07-audit").await;

    // 5. The security posture page reads the live controls.
    c.goto(&format!("{base}/security")).await.unwrap();
    let posture = text_of(&c, "main table").await;
    assert!(
        posture.contains("Audit chain") && posture.contains("verified"),
        "{posture}"
    );
    assert!(posture.contains("1 of 5 members"), "{posture}");
    shot(&c, "08-security").await;

    c.close().await.unwrap();
}
