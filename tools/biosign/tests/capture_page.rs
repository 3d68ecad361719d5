//! `biosign serve` serves the capture page beside the API, and prints a link that opens the demo
//! sign in it. (The page's behaviour in a browser: tests/browser/.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use base64::Engine;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_biosign");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` on a fresh store; returns it with the capture link it printed.
fn serve(dir: &std::path::Path) -> (Server, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("JWT_JWKS")
        .env_remove("JWT_ISSUER")
        .env_remove("BIOSIGN_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let link = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_whitespace()
                .find(|word| word.contains("/capture/#"))
                .map(str::to_owned)
        })
        .expect("serve prints a capture link");
    // Keep reading: a closed pipe would fail serve's next print.
    std::thread::spawn(move || lines.for_each(drop));
    (server, link)
}

fn fragment_param<'a>(link: &'a str, name: &str) -> &'a str {
    let fragment = link.split_once('#').unwrap().1;
    fragment
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{name} in {link}"))
}

#[tokio::test]
async fn serve_prints_a_capture_link_for_its_demo_sign_and_serves_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, link) = serve(dir.path());
    let (page_url, _) = link.split_once('#').unwrap();
    assert!(page_url.ends_with("/capture/"), "{link}");
    let base = page_url.trim_end_matches("/capture/");
    let (org, sign, token) = (
        fragment_param(&link, "org"),
        fragment_param(&link, "sign"),
        fragment_param(&link, "token"),
    );
    assert_eq!(org, "demo");

    // The token is the signer's own: good for this sign only, and it loads it.
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sign_id"], sign);
    let client = reqwest::Client::new();
    let sign_url = format!("{base}/v1/orgs/{org}/biometric_signs/{sign}");
    let loaded = client
        .get(&sign_url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(loaded.status(), 200);
    let loaded: Value = loaded.json().await.unwrap();
    assert_eq!(loaded["status"], "PENDING");

    let page = client.get(page_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(
        page.text()
            .await
            .unwrap()
            .contains(r#"<canvas id="signature""#)
    );

    let module = client
        .get(format!("{page_url}sigdata.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(module.status(), 200);
    assert_eq!(
        module.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );

    let head = client.head(page_url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn anything_else_under_capture_is_the_api_s_404() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, link) = serve(dir.path());
    let page_url = link.split_once('#').unwrap().0;
    let client = reqwest::Client::new();
    for request in [
        client.post(page_url),
        client.put(format!("{page_url}app.js")),
        client.get(format!("{page_url}missing.js")),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "MDOC_004");
    }
}
