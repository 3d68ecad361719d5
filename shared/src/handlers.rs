//! The three endpoints as functions from a request to a response, shared by the Lambda binaries
//! and `biosign serve`. A client's mistake is never an `Err`: every outcome is a response, and
//! each request is logged as one line without biometric data, images, tokens or fingerprints.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use lambda_http::http::header::{CONTENT_TYPE, USER_AGENT};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::ApiError;
use crate::auth::{Authenticator, Scope};
use crate::error::ErrorDocs;
use crate::evidence::RequestEvidence;
use crate::ids::{OrgId, SignId, SignKey};
use crate::request::{DeviceHeaders, parse_sign_body};
use crate::response::{GetSignResponse, json_response, no_content};
use crate::route::{Route, match_path};
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
            let _turn = TURNS.take(&key).await;
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
            let _turn = TURNS.take(&key).await;
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
    let checked = (|| {
        // An unknown route is a 404 whoever asks, as API Gateway would answer it.
        path.check_routed()?;
        let claims = api.auth.authenticate(request.headers())?;
        let key = path.validate()?;
        let inputs = validate(request)?;
        claims.authorize(route_scope(route), &key)?;
        Ok((key, inputs))
    })();
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
        match match_path(request.uri().path()) {
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

/// The requests of this process that change a sign take turns, sign by sign: a burst of previews
/// of one sign (a hundred at once through `biosign serve`) queues here instead of racing through
/// the store, where each lost race costs a read and a failed commit. Races between processes (a
/// Lambda instance serves one request at a time) are settled by `service::transition`'s retries.
static TURNS: LazyLock<SignTurns> = LazyLock::new(SignTurns::default);

#[derive(Debug, Default)]
struct SignTurns {
    /// One queue per sign with a request in it; removed when its last request leaves.
    queues: Mutex<HashMap<SignKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// A request's turn to change a sign; the next request's turn starts when it is dropped.
struct Turn<'a> {
    turns: &'a SignTurns,
    key: SignKey,
    queue: Arc<tokio::sync::Mutex<()>>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl SignTurns {
    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<SignKey, Arc<tokio::sync::Mutex<()>>>> {
        // The map stays consistent whatever panicked while holding it.
        self.queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn take(&self, key: &SignKey) -> Turn<'_> {
        let queue = Arc::clone(self.queues().entry(key.clone()).or_default());
        let held = Arc::clone(&queue).lock_owned().await;
        Turn {
            turns: self,
            key: key.clone(),
            queue,
            held: Some(held),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.held = None;
        let mut queues = self.turns.queues();
        // Only the map and this turn hold the queue: nobody is waiting in it.
        if Arc::strong_count(&self.queue) == 2 {
            queues.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Waker};

    use super::*;

    fn is_ready<F: Future>(future: std::pin::Pin<&mut F>) -> bool {
        future
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    #[tokio::test]
    async fn turns_of_one_sign_follow_each_other_and_leave_no_queue_behind() {
        let turns = SignTurns::default();
        let key = |id| SignKey::new(OrgId::parse("acme").unwrap(), SignId::parse(id).unwrap());
        let (a, b) = (
            key("00000000-0000-4000-8000-000000000001"),
            key("00000000-0000-4000-8000-000000000002"),
        );
        let first = turns.take(&a).await;
        let mut second = pin!(turns.take(&a));
        assert!(!is_ready(second.as_mut()), "waits for the first turn");
        let other_sign = turns.take(&b).await;
        drop(other_sign);
        drop(first);
        let second = second.await;
        assert_eq!(turns.queues().len(), 1);
        drop(second);
        assert!(turns.queues().is_empty());
    }
}
