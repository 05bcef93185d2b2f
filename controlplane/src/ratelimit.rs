//! Per-client request rate limits (`--rate-limit REQS_PER_SEC`, `--rate-limit-burst N`).
//!
//! A token bucket per client: each bucket holds up to `burst` requests and refills at
//! `per_second`; a request takes one, and a request that finds the bucket empty is answered
//! `429 Too Many Requests` with `Retry-After` (whole seconds, at least 1) and a `Status` body
//! that names the limit. Nothing behind the limit runs for it: no token lookup, no store.
//!
//! **A client** is who the caller is: each bearer token has its own bucket, keyed by the
//! SHA-256 of the token (the secret is never kept, as in the store) whichever way the
//! header spells `Bearer` and its spaces; requests without a token are keyed on the peer's
//! IP address. `/healthz` and `/readyz` are never limited, so that probes keep
//! answering while a client is throttled.
//!
//! **Off by default.** The right number depends on the deployment — how many teams share the
//! server, what its store sustains, whether an ingress already limits per address — while a
//! fixed default either never binds or throttles legitimate runs: a `terraform plan` of a
//! thousand resources reads them at several hundred requests per second on one token. The
//! provider retries `429` after `Retry-After`, so turning the limit on is safe for Terraform
//! runs; they slow down rather than fail unless the wait exceeds the provider's retry budget.
//!
//! Memory follows the clients seen recently: once [`MAX_TRACKED`] clients are tracked
//! (then twice as many as after the last sweep), buckets that have refilled — no different
//! from a new one — are dropped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::status::ApiError;

/// Buckets kept before full ones are dropped.
pub const MAX_TRACKED: usize = 4096;

/// Paths that are never limited (health probes).
pub const EXEMPT_PATHS: &[&str] = &["/healthz", "/readyz"];

/// A rate limit: `per_second` sustained, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    per_second: f64,
    burst: u32,
}

/// Why a rate limit was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateLimitError {
    #[error("the rate must be a number of requests per second above 0, such as 50 or 0.5; got {0}")]
    Rate(f64),
    #[error("the burst must be at least 1 request")]
    Burst,
}

impl RateLimit {
    /// `per_second` requests a second, bursts of `burst` (default: twice the rate, at
    /// least 1).
    pub fn new(per_second: f64, burst: Option<u32>) -> Result<Self, RateLimitError> {
        if !per_second.is_finite() || per_second <= 0.0 {
            return Err(RateLimitError::Rate(per_second));
        }
        let burst = match burst {
            Some(0) => return Err(RateLimitError::Burst),
            Some(b) => b,
            None => (per_second * 2.0).ceil().clamp(1.0, f64::from(u32::MAX)) as u32,
        };
        Ok(Self { per_second, burst })
    }

    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests per second (bursts of {})",
            self.per_second, self.burst
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every client.
#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    by_client: HashMap<String, Bucket>,
    /// Sweep full buckets when this many clients are tracked.
    sweep_at: usize,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(Buckets {
                by_client: HashMap::new(),
                sweep_at: MAX_TRACKED,
            }),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one request from `client`'s bucket at `now`; `Err(wait)` when it is empty,
    /// with how long until it holds one again.
    pub fn check(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let RateLimit { per_second, burst } = self.limit;
        let burst = f64::from(burst);
        let refill = |b: &Bucket| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            (b.tokens + elapsed * per_second).min(burst)
        };
        let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let Buckets {
            by_client,
            sweep_at,
        } = &mut *guard;
        if by_client.len() >= *sweep_at && !by_client.contains_key(client) {
            by_client.retain(|_, b| refill(b) < burst);
            *sweep_at = MAX_TRACKED.max(by_client.len() * 2);
        }
        let bucket = by_client.entry(client.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refill(bucket);
        bucket.at = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            Err(Duration::from_secs_f64((1.0 - tokens) / per_second))
        }
    }

    /// How many clients have a bucket.
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .map(|b| b.by_client.len())
            .unwrap_or_default()
    }
}

/// The bucket key of a request: who the caller is. A bearer token (in any spelling that
/// authentication accepts, [`crate::auth::bearer_token`]) is keyed on the SHA-256 of the
/// token itself; a request without one on its peer's IP address; an `Authorization`
/// header that is not a bearer token on the peer too (it will be refused, but still counts).
fn client_key(req: &Request) -> String {
    if let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(crate::auth::bearer_token)
    {
        return format!("token:{}", crate::auth::hash_token(token));
    }
    match req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        Some(axum::extract::ConnectInfo(peer)) => format!("peer:{}", peer.ip()),
        None => "anonymous".to_string(),
    }
}

/// The middleware: passes the request on, or answers `429` with `Retry-After`.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limiter) = state.rate_limit.as_deref() else {
        return next.run(req).await;
    };
    if EXEMPT_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match limiter.check(&client_key(&req), Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => too_many_requests(limiter.limit(), wait),
    }
}

/// `429` with `Retry-After` in whole seconds (at least 1) and a `Status` body.
fn too_many_requests(limit: RateLimit, wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        format!(
            "too many requests with this token: the server allows {limit} per client; retry after {secs}s"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_validated_and_the_burst_defaults_to_twice_the_rate() {
        assert_eq!(RateLimit::new(5.0, None).unwrap().burst(), 10);
        assert_eq!(RateLimit::new(0.2, None).unwrap().burst(), 1);
        assert_eq!(RateLimit::new(5.0, Some(3)).unwrap().burst(), 3);
        assert_eq!(RateLimit::new(0.0, None), Err(RateLimitError::Rate(0.0)));
        assert!(RateLimit::new(f64::NAN, None).is_err());
        assert_eq!(RateLimit::new(1.0, Some(0)), Err(RateLimitError::Burst));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate() {
        let l = Limiter::new(RateLimit::new(2.0, Some(3)).unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check("a", t0), Ok(()));
        }
        let wait = l.check("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Another client has its own bucket.
        assert_eq!(l.check("b", t0), Ok(()));
        // Half a second later one request is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.check("a", t1), Ok(()));
        assert!(l.check("a", t1).is_err());
        // After a long pause the bucket is full again, not fuller.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(l.check("a", t2), Ok(()));
        }
        assert!(l.check("a", t2).is_err());
    }

    #[test]
    fn full_buckets_are_dropped_when_too_many_clients_are_tracked() {
        let l = Limiter::new(RateLimit::new(100.0, Some(1)).unwrap());
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED {
            l.check(&format!("c{i}"), t0).unwrap();
        }
        assert_eq!(l.tracked(), MAX_TRACKED);
        // A second later every bucket has refilled: a new client makes room.
        l.check("new", t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(l.tracked(), 1);
    }

    fn request(auth: Option<&str>, peer: &str) -> Request {
        let mut b = axum::http::Request::builder().uri("/resources");
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        let mut req = b.body(axum::body::Body::empty()).unwrap();
        let addr: std::net::SocketAddr = peer.parse().unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
        req
    }

    #[test]
    fn every_spelling_of_one_token_shares_its_bucket() {
        let key = client_key(&request(Some("Bearer wft_abc"), "127.0.0.1:1"));
        for spelling in ["bearer wft_abc", "BEARER wft_abc", "  Bearer    wft_abc  "] {
            assert_eq!(
                client_key(&request(Some(spelling), "127.0.0.9:2")),
                key,
                "{spelling:?}"
            );
        }
        assert_ne!(
            client_key(&request(Some("Bearer wft_abd"), "127.0.0.1:1")),
            key
        );
    }

    #[test]
    fn requests_without_a_token_are_keyed_on_the_peer_address() {
        assert_eq!(client_key(&request(None, "127.0.0.2:5")), "peer:127.0.0.2");
        assert_eq!(client_key(&request(None, "127.0.0.2:6")), "peer:127.0.0.2");
        assert_eq!(
            client_key(&request(Some("Basic eA=="), "127.0.0.3:6")),
            "peer:127.0.0.3"
        );
    }
}
