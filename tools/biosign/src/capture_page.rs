//! The reference capture page (`web/capture/`), built into the binary so that `biosign serve`
//! serves it at `/capture/` from any working directory. Only GET and HEAD of the page's own files
//! are answered here; every other request under `/capture` falls through to the API's routing,
//! whose answer for an unknown route is the contract's 404.

use std::sync::LazyLock;

use bytes::Bytes;
use http_body_util::Full;
use lambda_http::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use sha2::{Digest, Sha256};

/// Where the page lives on the server.
pub const PREFIX: &str = "/capture/";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../web/capture/",
                $name
            )),
        }
    };
}

/// Every file of `web/capture/` (a test checks that none is missing).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("capture.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("device.js", "text/javascript; charset=utf-8"),
    asset!("ink.js", "text/javascript; charset=utf-8"),
    asset!("sigdata.js", "text/javascript; charset=utf-8"),
];

/// Scripts and styles from this origin only, nothing inline, no framing (a signature page must
/// not be clickjacked); the API may be on any origin, so `connect-src` is open.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src *; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Each file's entity tag: the start of its SHA-256, so it changes exactly when the file does.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.bytes);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
        })
        .collect()
});

type HttpResponse = Response<Full<Bytes>>;

/// The page's answer to a request, or `None` when the request is not for one of its files.
pub fn respond(method: &Method, path: &str, headers: &HeaderMap) -> Option<HttpResponse> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    // Relative module paths need the trailing slash; browsers keep the fragment on a redirect.
    if path == PREFIX.trim_end_matches('/') {
        return Some(redirect_to_page());
    }
    let name = path.strip_prefix(PREFIX)?;
    let name = if name.is_empty() { "index.html" } else { name };
    let index = ASSETS.iter().position(|asset| asset.name == name)?;
    let asset = &ASSETS[index];
    let etag = ETAGS[index].clone();

    let mut response = Response::new(Full::new(Bytes::new()));
    let response_headers = response.headers_mut();
    response_headers.insert(header::ETAG, etag.clone());
    // Always revalidated (cheap: 304 by the ETag), so a new binary's page is never mixed with
    // modules a browser kept from an older one.
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response_headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response_headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response_headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response_headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));

    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag.as_bytes()
        });
    if unchanged {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Some(response);
    }
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.bytes.len()));
    if method == Method::GET {
        *response.body_mut() = Full::new(Bytes::from_static(asset.bytes));
    }
    Some(response)
}

fn redirect_to_page() -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(PREFIX));
    response
}

/// The link a signer opens: the page on `base_url`, with the sign and its token in the fragment
/// (never sent to a server, so never in an access log). `api` is left out: the page defaults to
/// its own origin, which is the API's when `biosign serve` serves both.
pub fn link(base_url: &str, org_id: &str, sign_id: &str, token: &str) -> String {
    format!(
        "{}{PREFIX}#org={}&sign={}&token={}",
        base_url.trim_end_matches('/'),
        fragment_value(org_id),
        fragment_value(sign_id),
        fragment_value(token)
    )
}

/// Percent-encodes all but RFC 3986's unreserved characters, as URLSearchParams reads them back.
fn fragment_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn get(path: &str) -> Option<HttpResponse> {
        respond(&Method::GET, path, &HeaderMap::new())
    }

    async fn body(response: HttpResponse) -> Bytes {
        match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        }
    }

    fn header_of(response: &HttpResponse, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[tokio::test]
    async fn the_page_and_each_module_are_served_with_their_content_type() {
        let page = get("/capture/").unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            header_of(&page, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(&page, header::CACHE_CONTROL), "no-cache");
        assert_eq!(header_of(&page, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(
            header_of(&page, header::CONTENT_SECURITY_POLICY).contains("frame-ancestors 'none'")
        );
        let html = body(page).await;
        assert!(
            std::str::from_utf8(&html)
                .unwrap()
                .contains(r#"id="signature""#)
        );

        for (name, content_type) in [
            ("index.html", "text/html; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("sigdata.js", "text/javascript; charset=utf-8"),
            ("capture.css", "text/css; charset=utf-8"),
        ] {
            let response = get(&format!("/capture/{name}")).unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            assert_eq!(header_of(&response, header::CONTENT_TYPE), content_type);
            let length: usize = header_of(&response, header::CONTENT_LENGTH)
                .parse()
                .unwrap();
            assert_eq!(body(response).await.len(), length, "{name}");
        }
    }

    #[test]
    fn every_file_of_the_page_is_built_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/capture");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let mut built_in: Vec<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
        built_in.sort();
        assert_eq!(built_in, on_disk);
    }

    #[test]
    fn other_paths_and_methods_are_left_to_the_api() {
        for path in [
            "/capture/nope.js",
            "/capture/../Cargo.toml",
            "/capture/app.js/",
            "/capturex/",
            "/capture//app.js",
            "/v1/orgs/acme",
            "/",
        ] {
            assert!(get(path).is_none(), "{path}");
        }
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            assert!(
                respond(&method, "/capture/", &HeaderMap::new()).is_none(),
                "{method}"
            );
        }
    }

    #[tokio::test]
    async fn head_has_the_headers_and_no_body() {
        let response = respond(&Method::HEAD, "/capture/app.js", &HeaderMap::new()).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header_of(&response, header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        assert_ne!(header_of(&response, header::CONTENT_LENGTH), "0");
        assert!(body(response).await.is_empty());
    }

    #[tokio::test]
    async fn a_known_version_is_not_sent_again() {
        let first = get("/capture/ink.js").unwrap();
        let etag = header_of(&first, header::ETAG).to_owned();
        assert!(etag.starts_with('"') && etag.len() == 26, "{etag}");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"other\", W/{etag}")).unwrap(),
        );
        let again = respond(&Method::GET, "/capture/ink.js", &headers).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header_of(&again, header::ETAG), etag);
        assert!(body(again).await.is_empty());
        // Another file's tag does not match.
        let other = respond(&Method::GET, "/capture/app.js", &headers).unwrap();
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[test]
    fn the_bare_prefix_redirects_to_the_page() {
        let response = get("/capture").unwrap();
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(header_of(&response, header::LOCATION), "/capture/");
    }

    #[test]
    fn the_link_carries_everything_in_the_fragment() {
        assert_eq!(
            link(
                "http://127.0.0.1:3000/",
                "acme",
                "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10",
                "a.b-c_d"
            ),
            "http://127.0.0.1:3000/capture/#org=acme&sign=0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10&token=a.b-c_d"
        );
        assert_eq!(fragment_value("a b&c=d+é"), "a%20b%26c%3Dd%2B%C3%A9");
    }
}
