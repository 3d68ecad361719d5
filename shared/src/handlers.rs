//! The three endpoints as functions from a request to a response, shared by the Lambda binaries
//! and `biosign serve`. A client's mistake is never an `Err`: every outcome is a response, and
//! each request is logged as one line without biometric data, images, tokens or fingerprints,
//! and counted in one metric line ([`metrics`](crate::metrics)).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use lambda_http::http::header::{CONTENT_TYPE, USER_AGENT};
use lambda_http::http::{HeaderMap, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::ApiError;
use crate::auth::{Authenticator, Scope};
use crate::error::ErrorDocs;
use crate::evidence::RequestEvidence;
use crate::ids::{OrgId, SignId, SignKey};
use crate::metrics::{self, Invocation};
use crate::request::{DeviceHeaders, parse_sign_body};
use crate::response::{GetSignResponse, json_response, no_content};
use crate::route::{Route, match_request};
use crate::service::{self, SignOutcome};
use crate::store::{BlobStore, SealingBlobStore, SignReader, SignWriter};
use crate::time;

/// Longest `User-Agent` kept as evidence; longer ones are cut (they bloat items, prove nothing).
const MAX_USER_AGENT_CHARS: usize = 512;

/// What a handler needs: the stores it uses, the token verifier, and where error refs point.
pub struct Api<S, B = crate::store::NoBlobs> {
    pub signs: S,
    pub blobs: B,
    pub auth: Authenticator,
    pub docs: ErrorDocs,
    /// The TSA that timestamps accepted signatures (`TSA_URL`); `None`: no timestamps (and always
    /// for the functions that store no signature).
    pub tsa: Option<crate::timestamp::TsaClient>,
}

/// `GET /v1/orgs/{org_id}/biometric_signs/{sign_id}`
pub async fn get_sign<S: SignReader, B>(api: &Api<S, B>, request: Request) -> Response<Body> {
    let no_inputs = |_: &Request, _: &RequestMeta| Ok(());
    respond(api, Route::GetSign, &request, no_inputs, async |key, ()| {
        let sign = service::get_sign(&api.signs, &key).await?;
        Ok(Done::from(json_response(
            200,
            &GetSignResponse::from_record(&sign, time::now()),
        )))
    })
    .await
}

/// `POST /v1/orgs/{org_id}/biometric_signs/{sign_id}/preview`
pub async fn preview<S: SignReader + SignWriter, B>(
    api: &Api<S, B>,
    request: Request,
) -> Response<Body> {
    let evidence = |request: &Request, meta: &RequestMeta| meta.evidence(request.headers());
    respond(
        api,
        Route::Preview,
        &request,
        evidence,
        async |key, evidence| {
            let _turn = TURNS.take(&key).await;
            service::record_preview(&api.signs, &key, &evidence).await?;
            Ok(Done::from(no_content()))
        },
    )
    .await
}

/// `POST /v1/orgs/{org_id}/biometric_signs/{sign_id}/sign`: the biometric data is stored only
/// sealed for `api.blobs.escrow`.
pub async fn sign<S: SignReader + SignWriter, B: BlobStore>(
    api: &Api<S, SealingBlobStore<B>>,
    request: Request,
) -> Response<Body> {
    let inputs = |request: &Request, meta: &RequestMeta| {
        let evidence = meta.evidence(request.headers())?;
        let signature = parse_sign_body(meta.content_type.as_deref(), request.body().as_ref())?;
        Ok((evidence, signature))
    };
    respond(
        api,
        Route::Sign,
        &request,
        inputs,
        async |key, (evidence, signature)| {
            let _turn = TURNS.take(&key).await;
            let SealingBlobStore { store, escrow } = &api.blobs;
            let outcome = service::submit_signature(
                &api.signs,
                store,
                escrow,
                api.tsa.as_ref(),
                &key,
                signature,
                &evidence,
            )
            .await?;
            Ok(Done {
                response: no_content(),
                signed: Some(outcome),
            })
        },
    )
    .await
}

/// What an action answered, and what a signature did (for the metrics).
struct Done {
    response: Response<Body>,
    signed: Option<SignOutcome>,
}

impl From<Response<Body>> for Done {
    fn from(response: Response<Body>) -> Self {
        Self {
            response,
            signed: None,
        }
    }
}

/// Runs the checks, then `action`, and turns the outcome into a response, one log line and one
/// metric line.
async fn respond<S, B, T>(
    api: &Api<S, B>,
    route: Route,
    request: &Request,
    inputs: impl FnOnce(&Request, &RequestMeta) -> Result<T, ApiError>,
    action: impl AsyncFnOnce(SignKey, T) -> Result<Done, ApiError>,
) -> Response<Body> {
    let started = Instant::now();
    let meta = RequestMeta::of(request, route);
    let result = match check(api, request, &meta, inputs).await {
        Ok((key, inputs)) => action(key, inputs).await,
        Err(e) => Err(e),
    };
    let (response, error, signed) = match result {
        Ok(Done { response, signed }) => (response, None, signed),
        Err(error) => {
            if let ApiError::Internal(cause) = &error {
                tracing::error!(request_id = %meta.request_id, route = route.template(), cause = %cause, "request failed unexpectedly");
            }
            (api.docs.response(&error), Some(error.kind()), None)
        }
    };
    let status = response.status().as_u16();
    let duration = started.elapsed();
    meta.log(status, error.map(|e| e.code), duration);
    metrics::record(&Invocation {
        route,
        status,
        error,
        signed,
        duration,
        request_id: &meta.request_id,
        sign_id: meta.sign_id(),
    });
    response
}

/// The checks in the contract's order: the route (404, whoever asks, as API Gateway would answer
/// it) → authentication (401) → path parameters, then `inputs` for headers and body (400) →
/// authorization against the path (401). What the sign itself allows (404, 409, 410) is the
/// action's to find out.
async fn check<S, B, T>(
    api: &Api<S, B>,
    request: &Request,
    meta: &RequestMeta,
    inputs: impl FnOnce(&Request, &RequestMeta) -> Result<T, ApiError>,
) -> Result<(SignKey, T), ApiError> {
    let path = meta.path.as_ref().ok_or_else(ApiError::unknown_route)?;
    let claims = api.auth.authenticate(request.headers()).await?;
    let key = path.key()?;
    let inputs = inputs(request, meta)?;
    claims.authorize(route_scope(meta.route), &key)?;
    Ok((key, inputs))
}

fn route_scope(route: Route) -> Scope {
    match route {
        Route::GetSign => Scope::Read,
        Route::Preview | Route::Sign => Scope::Sign,
    }
}

/// What a request says about itself, derived once before any check and handed to the evidence
/// and to the log line.
#[derive(Debug)]
pub struct RequestMeta {
    pub route: Route,
    pub method: Method,
    /// The gateway's request id, else the Lambda invocation's, else a fresh one.
    pub request_id: String,
    /// From the gateway's request context, never from a client header.
    pub client_ip: Option<String>,
    /// Cut at [`MAX_USER_AGENT_CHARS`].
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
    /// The path's ids, parsed; `None` when the path is not this route's.
    pub path: Option<PathIds>,
}

/// The path's ids, each validated once (the errors are reported in the contract's order).
#[derive(Debug)]
pub struct PathIds {
    pub org_id: Result<OrgId, ApiError>,
    pub sign_id: Result<SignId, ApiError>,
}

impl PathIds {
    fn parse(org_id: &str, sign_id: &str) -> Self {
        Self {
            org_id: OrgId::parse(org_id),
            sign_id: SignId::parse(sign_id),
        }
    }

    /// The sign's key, or the first invalid id's error.
    pub fn key(&self) -> Result<SignKey, ApiError> {
        Ok(SignKey::new(self.org_id.clone()?, self.sign_id.clone()?))
    }
}

impl RequestMeta {
    pub fn of(request: &Request, route: Route) -> Self {
        let headers = request.headers();
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let (client_ip, gateway_request_id) = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => {
                (ctx.http.source_ip.clone(), ctx.request_id.clone())
            }
            #[allow(unreachable_patterns)]
            _ => (None, None),
        };
        let request_id = gateway_request_id
            .or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Self {
            route,
            method: request.method().clone(),
            request_id,
            client_ip,
            user_agent: header(USER_AGENT)
                .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
            content_type: header(CONTENT_TYPE).map(str::to_owned),
            path: path_ids(request, route),
        }
    }

    /// The evidence of this request: the device headers (validated here), and what the gateway,
    /// not the client, says.
    pub fn evidence(&self, headers: &HeaderMap) -> Result<RequestEvidence, ApiError> {
        let device = DeviceHeaders::from_headers(headers)?;
        Ok(RequestEvidence {
            installation_id: device.installation_id,
            fingerprint: device.fingerprint,
            location: device.location,
            client_ip: self.client_ip.clone(),
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
        })
    }

    /// The path's sign id, once valid: a raw one may be anything the client sent.
    fn sign_id(&self) -> Option<&SignId> {
        self.path.as_ref().and_then(|p| p.sign_id.as_ref().ok())
    }

    /// The request's one log line. Path ids appear only once valid: raw ones may be anything the
    /// client sent.
    fn log(&self, status: u16, error_code: Option<&str>, duration: Duration) {
        let org_id = self.path.as_ref().and_then(|p| p.org_id.as_ref().ok());
        let sign_id = self.sign_id();
        tracing::info!(
            request_id = %self.request_id,
            route = self.route.template(),
            method = %self.method,
            org_id = org_id.map_or("-", OrgId::as_str),
            sign_id = %sign_id.map_or_else(|| "-".to_owned(), SignId::to_string),
            status,
            error_code = error_code.unwrap_or("-"),
            latency_ms = duration.as_secs_f64() * 1000.0,
            "request"
        );
    }
}

/// The path's ids: from API Gateway when it supplies them, else from the path itself.
fn path_ids(request: &Request, route: Route) -> Option<PathIds> {
    let params = request.path_parameters_ref();
    let from_gateway = params.and_then(|p| Some((p.first("org_id")?, p.first("sign_id")?)));
    if let Some((org_id, sign_id)) = from_gateway {
        return Some(PathIds::parse(org_id, sign_id));
    }
    match match_request(request.method(), request.uri().path()) {
        Some(m) if m.route == route => Some(PathIds::parse(m.org_id, m.sign_id)),
        _ => None,
    }
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
