//! The three endpoints as functions from a request to a response, shared by the Lambda binaries
//! and `biosign serve`. A client's mistake is never an `Err`: every outcome is a response, and
//! each request is logged as one line without biometric data, images, tokens or fingerprints.

use std::time::Instant;

use lambda_http::http::header::{CONTENT_TYPE, USER_AGENT};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::ApiError;
use crate::auth::{Authenticator, Scope};
use crate::error::{ErrorDocs, json_response};
use crate::evidence::RequestEvidence;
use crate::ids::{OrgId, SignId, SignKey};
use crate::model::GetSignResponse;
use crate::request::{DeviceHeaders, parse_sign_body};
use crate::route::{Route, match_request};
use crate::service;
use crate::store::{BlobStore, SignReader, SignWriter};
use crate::time;

/// Longest `User-Agent` kept as evidence; longer ones are cut (they bloat items, prove nothing).
const MAX_USER_AGENT_CHARS: usize = 512;

/// What a handler needs: the stores it uses, the token verifier, and where error refs point.
pub struct Api<S, B = crate::store::NoBlobs> {
    pub signs: S,
    pub blobs: B,
    pub auth: Authenticator,
    pub docs: ErrorDocs,
}

/// `GET /v1/orgs/{org_id}/biometric_signs/{sign_id}`
pub async fn get_sign<S: SignReader, B>(api: &Api<S, B>, request: Request) -> Response<Body> {
    let validate = |_: &Request| Ok(());
    respond(api, Route::GetSign, &request, validate, async |key, ()| {
        let sign = service::get_sign(&api.signs, &key).await?;
        Ok(json_response(
            200,
            &GetSignResponse::from_record(&sign, time::now()),
        ))
    })
    .await
}

/// `POST /v1/orgs/{org_id}/biometric_signs/{sign_id}/preview`
pub async fn preview<S: SignReader + SignWriter, B>(
    api: &Api<S, B>,
    request: Request,
) -> Response<Body> {
    respond(
        api,
        Route::Preview,
        &request,
        request_evidence,
        async |key, evidence| {
            service::record_preview(&api.signs, &key, &evidence).await?;
            Ok(no_content())
        },
    )
    .await
}

/// `POST /v1/orgs/{org_id}/biometric_signs/{sign_id}/sign`
pub async fn sign<S: SignReader + SignWriter, B: BlobStore>(
    api: &Api<S, B>,
    request: Request,
) -> Response<Body> {
    let validate = |request: &Request| {
        let evidence = request_evidence(request)?;
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let signature = parse_sign_body(content_type, request.body().as_ref())?;
        Ok((evidence, signature))
    };
    respond(
        api,
        Route::Sign,
        &request,
        validate,
        async |key, (evidence, signature)| {
            service::submit_signature(&api.signs, &api.blobs, &key, signature, &evidence).await?;
            Ok(no_content())
        },
    )
    .await
}

/// Runs the checks in the contract's order, then `action`, and turns the outcome into a response:
/// authentication (401) → path parameters, then `validate` for headers and body (400) →
/// authorization against the path (401) → `action`, which meets the sign itself (404, 409, 410).
async fn respond<S, B, T>(
    api: &Api<S, B>,
    route: Route,
    request: &Request,
    validate: impl FnOnce(&Request) -> Result<T, ApiError>,
    action: impl AsyncFnOnce(SignKey, T) -> Result<Response<Body>, ApiError>,
) -> Response<Body> {
    let started = Instant::now();
    let path = PathParams::of(request, route);
    let checked = async {
        // An unknown route is a 404 whoever asks, as API Gateway would answer it.
        path.check_routed()?;
        let claims = api.auth.authenticate(request.headers()).await?;
        let key = path.validate()?;
        let inputs = validate(request)?;
        claims.authorize(route_scope(route), &key)?;
        Ok::<_, ApiError>((key, inputs))
    }
    .await;
    let result = match checked {
        Ok((key, inputs)) => action(key, inputs).await,
        Err(e) => Err(e),
    };
    let (response, error_code) = match result {
        Ok(response) => (response, None),
        Err(error) => {
            if let ApiError::Internal(cause) = &error {
                tracing::error!(route = route.template(), cause = %cause, "request failed unexpectedly");
            }
            (api.docs.response(&error), Some(error.kind().code))
        }
    };
    log_request(
        route,
        request,
        &path,
        response.status().as_u16(),
        error_code,
        started,
    );
    response
}

fn route_scope(route: Route) -> Scope {
    match route {
        Route::GetSign => Scope::Read,
        Route::Preview | Route::Sign => Scope::Sign,
    }
}

fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = lambda_http::http::StatusCode::NO_CONTENT;
    response
}

/// The raw path parameters: from API Gateway when it supplies them, else from the path.
#[derive(Debug, Default)]
struct PathParams {
    org_id: Option<String>,
    sign_id: Option<String>,
    routed: bool,
}

impl PathParams {
    fn of(request: &Request, route: Route) -> Self {
        let params = request.path_parameters_ref();
        let from_gateway = params.and_then(|p| {
            Some((
                p.first("org_id")?.to_owned(),
                p.first("sign_id")?.to_owned(),
            ))
        });
        if let Some((org_id, sign_id)) = from_gateway {
            return Self {
                org_id: Some(org_id),
                sign_id: Some(sign_id),
                routed: true,
            };
        }
        match match_request(request.method(), request.uri().path()) {
            Some(m) if m.route == route => Self {
                org_id: Some(m.org_id.to_owned()),
                sign_id: Some(m.sign_id.to_owned()),
                routed: true,
            },
            _ => Self::default(),
        }
    }

    fn check_routed(&self) -> Result<(), ApiError> {
        if self.routed {
            Ok(())
        } else {
            Err(ApiError::NotFound("no such route".into()))
        }
    }

    fn validate(&self) -> Result<SignKey, ApiError> {
        let org_id = OrgId::parse(self.org_id.as_deref().unwrap_or_default())?;
        let sign_id = SignId::parse(self.sign_id.as_deref().unwrap_or_default())?;
        Ok(SignKey::new(org_id, sign_id))
    }
}

/// The evidence of this request: device headers, and what the gateway (not the client) says.
fn request_evidence(request: &Request) -> Result<RequestEvidence, ApiError> {
    let device = DeviceHeaders::from_headers(request.headers())?;
    let (client_ip, gateway_request_id) = gateway_context(request);
    let request_id = gateway_request_id
        .or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let user_agent = request
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
    Ok(RequestEvidence {
        installation_id: device.installation_id,
        fingerprint: device.fingerprint,
        location: device.location,
        client_ip,
        user_agent,
        request_id,
    })
}

/// Source IP and request id from the API Gateway HTTP API request context.
fn gateway_context(request: &Request) -> (Option<String>, Option<String>) {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.http.source_ip.clone(), ctx.request_id.clone())
        }
        #[allow(unreachable_patterns)]
        _ => (None, None),
    }
}

/// The request id for logs: the gateway's, else the Lambda invocation's.
fn log_request_id(request: &Request) -> Option<String> {
    gateway_context(request)
        .1
        .or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()))
}

fn log_request(
    route: Route,
    request: &Request,
    path: &PathParams,
    status: u16,
    error_code: Option<&str>,
    started: Instant,
) {
    // Path parameters are logged only once valid: raw ones may be anything the client sent.
    let org_id = path.org_id.as_deref().filter(|o| OrgId::parse(o).is_ok());
    let sign_id = path
        .sign_id
        .as_deref()
        .and_then(|s| SignId::parse(s).ok())
        .map(|s| s.to_string());
    tracing::info!(
        request_id = log_request_id(request).as_deref().unwrap_or("-"),
        route = route.template(),
        method = %request.method(),
        org_id = org_id.unwrap_or("-"),
        sign_id = sign_id.as_deref().unwrap_or("-"),
        status,
        error_code = error_code.unwrap_or("-"),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
}
