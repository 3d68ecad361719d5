//! The keys tokens are verified with: a JSON Web Key Set given inline (`JWT_JWKS`), or fetched
//! from the issuer (`JWT_JWKS_URL`) and cached for as long as the issuer says, within bounds.
//!
//! The remote set is never fetched at start-up (cold starts stay fast): the first request that
//! needs a key fetches it. Afterwards the cached set is used while fresh; a stale one is refreshed,
//! and a token signed with an unknown `kid` (a rotation) triggers a refetch, but at most one
//! attempt per [`RemoteJwksOptions::min_refetch_interval`], so that a flood of forged `kid`s
//! cannot turn the service into a load generator against the issuer. While the issuer cannot be
//! reached the last good set keeps working for up to [`RemoteJwksOptions::max_stale`]; with no set
//! at all every token is refused (fail closed).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::http::Request;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the JWKS is not valid JSON Web Key Set JSON: {0}")]
    Json(String),
    #[error("JWKS key {index} has no \"kid\"; every key needs one")]
    MissingKid { index: usize },
    #[error("JWKS key {kid:?}: {reason}")]
    UnsupportedKey { kid: String, reason: String },
    #[error("the JWKS holds no keys")]
    Empty,
    #[error("the JWKS URL {url:?} is not usable: {reason}")]
    Url { url: String, reason: String },
}

/// Verification keys by `kid`, each with the one algorithm its key type allows.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<_> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

impl KeySet {
    /// A configured set: every key must be usable, or the configuration is wrong.
    pub fn parse_strict(json: &str) -> Result<Self, JwksError> {
        let set: JwkSet = serde_json::from_str(json).map_err(|e| JwksError::Json(e.to_string()))?;
        let mut keys = HashMap::new();
        for (index, jwk) in set.keys.iter().enumerate() {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or(JwksError::MissingKid { index })?;
            let key = verification_key(jwk).map_err(|reason| JwksError::UnsupportedKey {
                kid: kid.clone(),
                reason,
            })?;
            keys.insert(kid, key);
        }
        if keys.is_empty() {
            return Err(JwksError::Empty);
        }
        Ok(Self { keys })
    }

    /// An issuer's published set: keys this service cannot use (encryption keys, other curves,
    /// no `kid`) are skipped, as an issuer may publish them for other relying parties. At least
    /// one usable key must remain.
    pub fn parse_published(json: &[u8]) -> Result<Self, JwksError> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| JwksError::Json(e.to_string()))?;
        let keys: HashMap<_, _> = set
            .keys
            .iter()
            .filter(|jwk| {
                !matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature)
            })
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, verification_key(jwk).ok()?)))
            .collect();
        if keys.is_empty() {
            return Err(JwksError::Empty);
        }
        Ok(Self { keys })
    }

    pub fn get(&self, kid: &str) -> Option<&(Algorithm, DecodingKey)> {
        self.keys.get(kid)
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }
}

/// The key and its algorithm. The algorithm comes from the key, never from the token: a token
/// cannot pick HMAC (or anything else) for a key meant for RS256.
fn verification_key(jwk: &Jwk) -> Result<(Algorithm, DecodingKey), String> {
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys are refused".into()),
        _ => return Err("only RSA, EC P-256 and Ed25519 keys are accepted".into()),
    };
    if let Some(declared) = jwk.common.key_algorithm {
        let declared = format!("{declared:?}");
        if declared != format!("{algorithm:?}") {
            return Err(format!(
                "declares alg {declared}, but only {algorithm:?} fits the key"
            ));
        }
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    Ok((algorithm, key))
}

/// Bounds of the remote key set's cache and fetch. The defaults are the service's; tests shorten
/// them.
#[derive(Debug, Clone)]
pub struct RemoteJwksOptions {
    /// How long one fetch (connect, TLS, response) may take before it counts as failed.
    pub fetch_timeout: Duration,
    /// Freshness when the response has no usable `Cache-Control: max-age`.
    pub default_max_age: Duration,
    /// Bounds on the response's `max-age`: an issuer saying 0 does not make every request a
    /// fetch, one saying a year does not pin a retired key for a year.
    pub min_max_age: Duration,
    pub max_max_age: Duration,
    /// At most one fetch attempt per this interval (refresh or unknown `kid`).
    pub min_refetch_interval: Duration,
    /// How long past its freshness a set keeps working while refetches fail.
    pub max_stale: Duration,
    /// The largest response accepted.
    pub max_bytes: usize,
}

impl Default for RemoteJwksOptions {
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_secs(3),
            default_max_age: Duration::from_secs(5 * 60),
            min_max_age: Duration::from_secs(60),
            max_max_age: Duration::from_secs(60 * 60),
            min_refetch_interval: Duration::from_secs(60),
            max_stale: Duration::from_secs(60 * 60),
            max_bytes: 256 * 1024,
        }
    }
}

/// The time source of the cache; tests move it forward instead of waiting.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Why a token's key could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLookupError {
    /// The set is known, and this `kid` is not in it.
    UnknownKid,
    /// No set could be fetched (or the last one is too old to trust).
    NoKeySet,
}

/// A JWKS fetched from the issuer's URL, cached across invocations.
pub struct RemoteJwks {
    url: String,
    options: RemoteJwksOptions,
    clock: Clock,
    cache: std::sync::Mutex<Cache>,
    /// Held across a fetch, so that concurrent callers share one.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: Option<Arc<KeySet>>,
    fresh_until: Option<Instant>,
    last_attempt: Option<Instant>,
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.url)
            .field("options", &self.options)
            .finish()
    }
}

impl RemoteJwks {
    /// Checks the URL (HTTPS; plain HTTP only to a loopback address). Fetches nothing.
    pub fn new(url: &str, options: RemoteJwksOptions) -> Result<Self, JwksError> {
        Self::with_clock(url, options, Arc::new(Instant::now))
    }

    pub fn with_clock(
        url: &str,
        options: RemoteJwksOptions,
        clock: Clock,
    ) -> Result<Self, JwksError> {
        check_url(url)?;
        Ok(Self {
            url: url.to_owned(),
            options,
            clock,
            cache: std::sync::Mutex::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key set to verify a token with `kid`, fetching it first when the cache is empty or
    /// stale, or does not know `kid` (subject to the refetch interval). A fresh set that knows
    /// `kid` is answered at once, never behind a fetch; concurrent callers that need a fetch share
    /// one, bounded by `fetch_timeout`.
    pub async fn key_set_for(&self, kid: &str) -> Result<Arc<KeySet>, KeyLookupError> {
        if let Some(keys) = self.cached(kid, (self.clock)()) {
            return Ok(keys);
        }
        let _single_flight = self.fetching.lock().await;
        let now = (self.clock)();
        // Another caller may have fetched while this one waited.
        if let Some(keys) = self.cached(kid, now) {
            return Ok(keys);
        }
        let may_fetch = {
            let mut cache = self.lock_cache();
            let allowed = cache.last_attempt.is_none_or(|last| {
                now.saturating_duration_since(last) >= self.options.min_refetch_interval
            });
            if allowed {
                cache.last_attempt = Some(now);
            }
            allowed
        };
        if may_fetch {
            match self.fetch().await {
                Ok((keys, max_age)) => {
                    let mut cache = self.lock_cache();
                    cache.keys = Some(Arc::new(keys));
                    cache.fresh_until = Some(now + max_age);
                }
                Err(reason) => {
                    tracing::warn!(url = %self.url, reason = %reason, "could not fetch the JWKS");
                }
            }
        }
        let cache = self.lock_cache();
        let usable = cache
            .fresh_until
            .is_some_and(|until| now < until + self.options.max_stale);
        match cache.keys.as_ref().filter(|_| usable) {
            Some(keys) if keys.contains(kid) => Ok(Arc::clone(keys)),
            Some(_) => Err(KeyLookupError::UnknownKid),
            None => Err(KeyLookupError::NoKeySet),
        }
    }

    /// The cached set, if it is fresh at `now` and knows `kid`.
    fn cached(&self, kid: &str, now: Instant) -> Option<Arc<KeySet>> {
        let cache = self.lock_cache();
        let fresh = cache.fresh_until.is_some_and(|until| now < until);
        cache
            .keys
            .as_ref()
            .filter(|keys| fresh && keys.contains(kid))
            .map(Arc::clone)
    }

    /// The cache's lock, held only for reads and writes of it, never across a fetch. A panic
    /// while it was held cannot leave it half-written (every write is one assignment), so a
    /// poisoned lock is used as is.
    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One bounded GET of the set: the parsed keys and how long they are fresh.
    async fn fetch(&self) -> Result<(KeySet, Duration), String> {
        match tokio::time::timeout(self.options.fetch_timeout, self.fetch_unbounded()).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no complete answer within {:?}",
                self.options.fetch_timeout
            )),
        }
    }

    async fn fetch_unbounded(&self) -> Result<(KeySet, Duration), String> {
        let mut request = Request::get(&self.url).map_err(|e| e.to_string())?;
        request
            .headers_mut()
            .insert("accept", "application/jwk-set+json, application/json");
        let reply = crate::http::fetch(request, self.options.max_bytes)
            .await
            .map_err(|e| match e {
                crate::http::FetchError::TooLarge { limit } => {
                    format!("the JWKS is larger than {limit} bytes")
                }
                crate::http::FetchError::Wire(reason) => reason,
            })?;
        if reply.status != 200 {
            return Err(format!("the issuer answered HTTP {}", reply.status));
        }
        let max_age = self.max_age(reply.headers.get("cache-control"));
        let keys = KeySet::parse_published(&reply.body).map_err(|e| e.to_string())?;
        Ok((keys, max_age))
    }

    /// `max-age` from `Cache-Control`, within the bounds; the default without one. `no-cache`
    /// and `no-store` mean "as short as allowed".
    fn max_age(&self, cache_control: Option<&str>) -> Duration {
        let o = &self.options;
        let Some(value) = cache_control else {
            return o.default_max_age;
        };
        let mut seconds = None;
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return o.min_max_age;
            }
            if let Some(n) = lower.strip_prefix("max-age=") {
                seconds = n.trim_matches('"').parse::<u64>().ok();
            }
        }
        seconds
            .map(Duration::from_secs)
            .unwrap_or(o.default_max_age)
            .clamp(o.min_max_age, o.max_max_age)
    }
}

/// HTTPS anywhere; plain HTTP only to a loopback address (see [`crate::http::check_url`]).
fn check_url(url: &str) -> Result<(), JwksError> {
    crate::http::check_url(url)
        .map(|_| ())
        .map_err(|reason| JwksError::Url {
            url: url.to_owned(),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        for good in [
            "https://idp.example/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/jwks",
            "http://[::1]:9000/jwks",
            "http://localhost/jwks",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://idp.example/jwks",
            "http://10.0.0.1/jwks",
            "http://127.0.0.1.evil.example/jwks",
            "ftp://idp.example/jwks",
            "idp.example/jwks",
            "not a url",
            "",
        ] {
            let err = check_url(bad).unwrap_err().to_string();
            assert!(err.contains("JWKS URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn max_age_is_read_and_bounded() {
        let remote = RemoteJwks::new("https://idp.example/jwks", Default::default()).unwrap();
        let secs = |v: Option<&str>| remote.max_age(v).as_secs();
        assert_eq!(secs(None), 300);
        assert_eq!(secs(Some("public, max-age=600")), 600);
        assert_eq!(secs(Some("max-age=0")), 60);
        assert_eq!(secs(Some("max-age=31536000, immutable")), 3600);
        assert_eq!(secs(Some("no-store")), 60);
        assert_eq!(secs(Some("Max-Age=\"120\"")), 120);
        assert_eq!(secs(Some("max-age=soon")), 300);
        assert_eq!(secs(Some("")), 300);
    }

    #[test]
    fn published_sets_skip_what_this_service_cannot_use() {
        let ed = r#"{"kty":"OKP","crv":"Ed25519","kid":"sig","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let enc = r#"{"kty":"OKP","crv":"Ed25519","kid":"enc","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let hmac = r#"{"kty":"oct","kid":"h","k":"c2VjcmV0"}"#;
        let no_kid =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let json = format!(r#"{{"keys":[{ed},{enc},{hmac},{no_kid}]}}"#);
        let set = KeySet::parse_published(json.as_bytes()).unwrap();
        assert!(set.contains("sig"));
        assert!(!set.contains("enc") && !set.contains("h"));
        assert!(KeySet::parse_published(format!(r#"{{"keys":[{hmac}]}}"#).as_bytes()).is_err());
        assert!(KeySet::parse_published(b"<html>").is_err());
        // A configured set is strict: the same unusable key is a configuration error.
        assert!(KeySet::parse_strict(&format!(r#"{{"keys":[{ed},{hmac}]}}"#)).is_err());
    }
}
