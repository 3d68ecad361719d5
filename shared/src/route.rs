//! The three routes and how a request path is matched against them.
//!
//! Behind API Gateway the path parameters arrive ready-made for the three routes; every other path
//! goes to the `$default` route, whose function answers 404. Everywhere else — a function invoked
//! through a function URL (no path parameters in the event), and `biosign serve` — the path itself
//! is matched here. A route matches only its exact path: `/v1/orgs/{org_id}/biometric_signs/
//! {sign_id}`, optionally followed by `/preview` or `/sign`; nothing before `/v1`, no trailing,
//! doubled or empty segments. Everything else is an unknown route (404).

use lambda_http::http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    GetSign,
    Preview,
    Sign,
}

impl Route {
    pub fn method(self) -> Method {
        match self {
            Self::GetSign => Method::GET,
            Self::Preview | Self::Sign => Method::POST,
        }
    }

    /// The route template, as in the API contract and the SAM template.
    pub fn template(self) -> &'static str {
        match self {
            Self::GetSign => "/v1/orgs/{org_id}/biometric_signs/{sign_id}",
            Self::Preview => "/v1/orgs/{org_id}/biometric_signs/{sign_id}/preview",
            Self::Sign => "/v1/orgs/{org_id}/biometric_signs/{sign_id}/sign",
        }
    }

    pub const ALL: [Route; 3] = [Route::GetSign, Route::Preview, Route::Sign];
}

/// A matched path: which route, and the raw (not yet validated) path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route: Route,
    pub org_id: &'a str,
    pub sign_id: &'a str,
}

/// Matches `path` exactly against the three route templates, ignoring the method. Path
/// parameters must be non-empty; their content is left to validation (400), so that a malformed
/// id in the right place is a parameter error and not an unknown route.
pub fn match_path(path: &str) -> Option<Matched<'_>> {
    let rest = path.strip_prefix("/v1/orgs/")?;
    let mut segments = rest.split('/');
    let org_id = segments.next().filter(|s| !s.is_empty())?;
    if segments.next()? != "biometric_signs" {
        return None;
    }
    let sign_id = segments.next().filter(|s| !s.is_empty())?;
    let route = match (segments.next(), segments.next()) {
        (None, _) => Route::GetSign,
        (Some("preview"), None) => Route::Preview,
        (Some("sign"), None) => Route::Sign,
        _ => return None,
    };
    Some(Matched {
        route,
        org_id,
        sign_id,
    })
}

/// Matches a request: the exact path of a route, with that route's method.
pub fn match_request<'a>(method: &Method, path: &'a str) -> Option<Matched<'a>> {
    match_path(path).filter(|m| m.route.method() == method)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10";

    #[test]
    fn matches_the_three_routes_exactly() {
        let cases = [
            (
                format!("/v1/orgs/acme/biometric_signs/{ID}"),
                Route::GetSign,
            ),
            (
                format!("/v1/orgs/acme/biometric_signs/{ID}/preview"),
                Route::Preview,
            ),
            (
                format!("/v1/orgs/acme/biometric_signs/{ID}/sign"),
                Route::Sign,
            ),
        ];
        for (path, route) in &cases {
            let m = match_path(path).unwrap();
            assert_eq!(
                (m.route, m.org_id, m.sign_id),
                (*route, "acme", ID),
                "{path}"
            );
        }
    }

    #[test]
    fn prefixes_and_extra_or_doubled_slashes_do_not_match() {
        for path in [
            "/",
            "",
            "/v1/orgs/acme",
            "/v1/orgs/acme/signs/x",
            "/v1/orgs/acme/biometric_signs/x/delete",
            "/v1/orgs/acme/biometric_signs/x/sign/more",
            &format!("/evil/prefix/v1/orgs/acme/biometric_signs/{ID}"),
            &format!("/lambda-url/get-sign/v1/orgs/acme/biometric_signs/{ID}"),
            &format!("v1/orgs/acme/biometric_signs/{ID}"),
            &format!("//v1/orgs/acme/biometric_signs/{ID}"),
            &format!("/v1//orgs/acme/biometric_signs/{ID}"),
            &format!("/v1/orgs//acme/biometric_signs/{ID}"),
            &format!("/v1/orgs/acme//biometric_signs/{ID}"),
            &format!("/v1/orgs/acme/biometric_signs//{ID}"),
            &format!("/v1/orgs/acme/biometric_signs/{ID}/"),
            &format!("/v1/orgs/acme/biometric_signs/{ID}///"),
            &format!("/v1/orgs/acme/biometric_signs/{ID}//preview"),
            &format!("/v1/orgs/acme/biometric_signs/{ID}/preview/"),
            &format!("/v1/orgs/acme/biometric_signs/{ID}/sign//"),
            &format!("/V1/orgs/acme/biometric_signs/{ID}"),
            &format!("/v1/orgs/acme/Biometric_Signs/{ID}"),
            &format!("/v1/orgs/acme/biometric_signs/{ID}/Sign"),
            "/v1/orgs//biometric_signs/x",
            "/v1/orgs/acme/biometric_signs/",
        ] {
            assert_eq!(match_path(path), None, "{path}");
        }
    }

    #[test]
    fn parameter_content_is_left_to_validation() {
        let m = match_path("/v1/orgs/a%20b/biometric_signs/not-a-uuid").unwrap();
        assert_eq!((m.org_id, m.sign_id), ("a%20b", "not-a-uuid"));
    }

    #[test]
    fn a_request_matches_only_with_its_route_method() {
        let get = format!("/v1/orgs/acme/biometric_signs/{ID}");
        let sign = format!("{get}/sign");
        assert_eq!(
            match_request(&Method::GET, &get).map(|m| m.route),
            Some(Route::GetSign)
        );
        assert_eq!(
            match_request(&Method::POST, &sign).map(|m| m.route),
            Some(Route::Sign)
        );
        for (method, path) in [
            (Method::POST, &get),
            (Method::DELETE, &get),
            (Method::HEAD, &get),
            (Method::GET, &sign),
            (Method::PUT, &sign),
        ] {
            assert_eq!(match_request(&method, path), None, "{method} {path}");
        }
    }
}
