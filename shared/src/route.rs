//! The three routes, recognised from the request path. Behind API Gateway the path parameters
//! arrive ready-made; under function-URL emulation (`cargo lambda watch`) and in `biosign serve`
//! they are read from the path itself.

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

/// Matches `path` (which may carry a prefix, such as `/lambda-url/<function>`) against the
/// routes, ignoring the method.
pub fn match_path(path: &str) -> Option<Matched<'_>> {
    let start = path.find("/v1/orgs/")?;
    let rest = path[start + "/v1/orgs/".len()..].trim_end_matches('/');
    let mut segments = rest.split('/');
    let org_id = segments.next()?;
    if segments.next()? != "biometric_signs" {
        return None;
    }
    let sign_id = segments.next()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_three_routes_with_or_without_prefix() {
        let id = "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10";
        let cases = [
            (
                format!("/v1/orgs/acme/biometric_signs/{id}"),
                Route::GetSign,
            ),
            (
                format!("/lambda-url/preview-sign/v1/orgs/acme/biometric_signs/{id}/preview"),
                Route::Preview,
            ),
            (
                format!("/v1/orgs/acme/biometric_signs/{id}/sign/"),
                Route::Sign,
            ),
        ];
        for (path, route) in &cases {
            let m = match_path(path).unwrap();
            assert_eq!(
                (m.route, m.org_id, m.sign_id),
                (*route, "acme", id),
                "{path}"
            );
        }
    }

    #[test]
    fn other_paths_do_not_match() {
        for path in [
            "/",
            "/v1/orgs/acme",
            "/v1/orgs/acme/signs/x",
            "/v1/orgs/acme/biometric_signs/x/delete",
            "/v1/orgs/acme/biometric_signs/x/sign/more",
        ] {
            assert_eq!(match_path(path), None, "{path}");
        }
    }

    #[test]
    fn empty_segments_match_and_are_left_to_validation() {
        let m = match_path("/v1/orgs//biometric_signs/x").unwrap();
        assert_eq!(m.org_id, "");
    }
}
