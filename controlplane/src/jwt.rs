//! Signed tokens in the shape Wayfinder's clients read: RS256 JSON Web Tokens.
//!
//! The control plane signs with one RSA key (2048 bits), generated on first start and kept
//! in the store (`server_keys`, PKCS#8): never logged, never in a response. Signing and
//! verifying use aws-lc-rs, the crypto the TLS stack already uses; the JWT framing (three
//! base64url parts) is done here.
//!
//! Two kinds of token carry the same claims, `{iss, aud: "wayfinder", sub, iat, exp, jti,
//! scopes, preferred_username, workspace, wayfinderGroups, workspaceGroups}`, and differ in
//! their scopes:
//! - an **exchange token** — the secret of an AccessToken — has the scope
//!   [`SCOPE_EXCHANGE`] (and [`SCOPE_ACCESS_TOKEN`]): Wayfinder's clients trade it at
//!   `POST /api/v2/exchange` and never send it to the API itself;
//! - an **API token** — what the exchange answers — has only [`SCOPE_ACCESS_TOKEN`], a short
//!   expiry, and `exchangedFrom`: the store key (SHA-256) of the exchange token it came from,
//!   so that revoking the AccessToken ends its API tokens at once.
//!
//! The claims are informative for clients (`wfclient` reads `scopes` and `exp`); the server
//! decides from the store: roles come from the token's stored record, never from claims.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::store::{Store, StoreError};

/// The audience of every token this server signs, as Wayfinder's (`authtypes.Audience`).
pub const AUDIENCE: &str = "wayfinder";
/// The scope of a token that may be exchanged for an API token (`authtypes.ScopeExchange`).
pub const SCOPE_EXCHANGE: &str = "wayfinder:auth:exchange";
/// The scope of an access token's tokens (`authtypes.ScopeAccessToken`).
pub const SCOPE_ACCESS_TOKEN: &str = "wayfinder:system:accesstoken";

/// The `server_keys` entry of the signing key.
const SIGNING_KEY: &str = "signing-key";
/// The `server_keys` entry of the instance identifier.
const INSTANCE: &str = "instance";

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    pub jti: String,
    pub scopes: Vec<String>,
    #[serde(rename = "preferred_username")]
    pub preferred_username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wayfinder_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workspace_groups: BTreeMap<String, Vec<String>>,
    /// API tokens only: the store key of the exchange token they were exchanged from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchanged_from: Option<String>,
}

impl Claims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    pub fn expires_at(&self) -> Option<SystemTime> {
        self.exp.map(|e| UNIX_EPOCH + Duration::from_secs(e))
    }
}

/// Why a token was not accepted. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JSON Web Token ({0})")]
    Malformed(&'static str),
    #[error("the token is signed with {0:?}, but this server signs and accepts RS256 only")]
    Algorithm(String),
    #[error(
        "the token's signature does not verify: it was not issued by this control plane, or was altered"
    )]
    Signature,
    #[error("the token is for audience {0:?}, not {AUDIENCE:?}")]
    Audience(String),
    #[error("the token expired at {0}")]
    Expired(String),
}

/// Parses `token` as a JWT without checking its signature: whether it looks like one of
/// ours at all (three base64url parts, a JSON header and claims).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

/// The control plane's signing key, issuer and instance identifier.
pub struct Signer {
    key: KeyPair,
    public: Vec<u8>,
    kid: String,
    instance: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// Errors loading or creating the signing key.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("cannot read or record the control plane's signing key in the store")]
    Store(#[from] StoreError),
    #[error(
        "the signing key kept in the store is not a valid RSA key; restore the store from a backup"
    )]
    BadKey,
    #[error("cannot generate an RSA signing key")]
    Generate,
}

impl Signer {
    /// The store's signing key and instance identifier, created on first use.
    pub fn load_or_create(store: &Store) -> Result<Self, SignerError> {
        let der = store
            .server_key(SIGNING_KEY, || {
                KeyPair::generate(KeySize::Rsa2048)
                    .ok()
                    .and_then(|k| k.as_der().ok().map(|d| d.as_ref().to_vec()))
            })?
            .ok_or(SignerError::Generate)?;
        let instance = store
            .server_key(INSTANCE, || Some(crate::keys::new_uid().into_bytes()))?
            .ok_or(SignerError::Generate)?;
        let instance = String::from_utf8(instance).map_err(|_| SignerError::BadKey)?;
        let key = KeyPair::from_pkcs8(&der).map_err(|_| SignerError::BadKey)?;
        let public = key.public_key().as_ref().to_vec();
        let kid = hex::encode(&Sha256::digest(&public)[..8]);
        Ok(Self {
            key,
            public,
            kid,
            instance,
        })
    }

    /// This control plane's instance identifier (a UUID made on first start).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The `iss` of this server's tokens.
    pub fn issuer(&self) -> String {
        format!("wayfinder-server/{}", self.instance)
    }

    /// New claims for `subject` from now: issuer, audience, a fresh `jti`, `iat`, `exp`.
    pub fn claims(&self, subject: &str, expires: Option<SystemTime>, scopes: &[&str]) -> Claims {
        let now = unix(SystemTime::now());
        let jti: [u8; 16] = rand::rng().random();
        Claims {
            iss: self.issuer(),
            aud: AUDIENCE.to_string(),
            sub: subject.to_string(),
            iat: now,
            exp: expires.map(unix),
            jti: hex::encode(jti),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            preferred_username: subject.to_string(),
            workspace: None,
            wayfinder_groups: Vec::new(),
            workspace_groups: BTreeMap::new(),
            exchanged_from: None,
        }
    }

    /// The signed token of `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, SignerError> {
        let header = Header {
            alg: "RS256".to_string(),
            typ: "JWT".to_string(),
            kid: Some(self.kid.clone()),
        };
        let enc = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        let header = serde_json::to_vec(&header).map_err(|_| SignerError::Generate)?;
        let body = serde_json::to_vec(claims).map_err(|_| SignerError::Generate)?;
        let signing_input = format!("{}.{}", enc(&header), enc(&body));
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| SignerError::Generate)?;
        Ok(format!("{signing_input}.{}", enc(&sig)))
    }

    /// The claims of `token` when it is well formed, signed by this server's key, for
    /// audience `wayfinder` and not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed(
                "it must have three dot-separated parts",
            ));
        };
        let dec = |p: &str, what| {
            URL_SAFE_NO_PAD
                .decode(p.trim_end_matches('='))
                .map_err(|_| TokenError::Malformed(what))
        };
        let header: Header = serde_json::from_slice(&dec(h, "its header is not base64url")?)
            .map_err(|_| TokenError::Malformed("its header is not a JWT header"))?;
        if header.alg != "RS256" {
            return Err(TokenError::Algorithm(header.alg));
        }
        let sig = dec(s, "its signature is not base64url")?;
        let signing_input = &token[..h.len() + 1 + c.len()];
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.public)
            .verify(signing_input.as_bytes(), &sig)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = serde_json::from_slice(&dec(c, "its claims are not base64url")?)
            .map_err(|_| TokenError::Malformed("its claims are not this server's claims"))?;
        if claims.aud != AUDIENCE {
            return Err(TokenError::Audience(claims.aud));
        }
        if let Some(at) = claims.expires_at()
            && at <= SystemTime::now()
        {
            return Err(TokenError::Expired(
                humantime::format_rfc3339_seconds(at).to_string(),
            ));
        }
        Ok(claims)
    }
}

/// Seconds since the Unix epoch.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> (tempfile::TempDir, Store, Signer) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("w.db")).unwrap();
        let signer = Signer::load_or_create(&store).unwrap();
        (dir, store, signer)
    }

    #[test]
    fn a_signed_token_verifies_and_keeps_its_claims() {
        let (_d, _s, signer) = signer();
        let mut claims = signer.claims(
            "accesstoken/pay/ci",
            Some(SystemTime::now() + Duration::from_secs(60)),
            &[SCOPE_EXCHANGE, SCOPE_ACCESS_TOKEN],
        );
        claims.workspace = Some("pay".into());
        let token = signer.sign(&claims).unwrap();
        assert!(looks_like_jwt(&token));
        assert_eq!(signer.verify(&token).unwrap(), claims);
        // The claims are plain base64url JSON, as Go's jwt.ParseUnverified reads them.
        let body = token.split('.').nth(1).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        assert_eq!(v["aud"], "wayfinder");
        assert_eq!(v["scopes"][0], SCOPE_EXCHANGE);
        assert_eq!(v["preferred_username"], "accesstoken/pay/ci");
        assert!(v["exp"].is_u64() && v["iat"].is_u64() && v["jti"].is_string());
    }

    #[test]
    fn the_key_is_made_once_and_kept_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let token = {
            let store = Store::open_sqlite(&path).unwrap();
            let s = Signer::load_or_create(&store).unwrap();
            let t = s.sign(&s.claims("x", None, &[])).unwrap();
            store.close().unwrap();
            t
        };
        let store = Store::open_sqlite(&path).unwrap();
        let again = Signer::load_or_create(&store).unwrap();
        assert!(again.verify(&token).is_ok());
        assert!(!format!("{again:?}").contains("key:"));
    }

    #[test]
    fn expired_altered_foreign_and_malformed_tokens_are_refused() {
        let (_d, _s, signer) = signer();
        let (_d2, _s2, other) = signer_pair();
        let past = SystemTime::now() - Duration::from_secs(5);
        let expired = signer.sign(&signer.claims("x", Some(past), &[])).unwrap();
        assert!(matches!(
            signer.verify(&expired),
            Err(TokenError::Expired(_))
        ));
        let good = signer.sign(&signer.claims("x", None, &[])).unwrap();
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"iss":"x","aud":"wayfinder","sub":"admin","iat":0,"jti":"j","scopes":[],"preferred_username":"admin"}"#);
        parts[1] = &forged;
        assert_eq!(signer.verify(&parts.join(".")), Err(TokenError::Signature));
        let foreign = other.sign(&other.claims("x", None, &[])).unwrap();
        assert_eq!(signer.verify(&foreign), Err(TokenError::Signature));
        assert!(matches!(
            signer.verify("not-a-token"),
            Err(TokenError::Malformed(_))
        ));
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            good.split('.').nth(1).unwrap()
        );
        assert_eq!(
            signer.verify(&none_alg),
            Err(TokenError::Algorithm("none".into()))
        );
    }

    fn signer_pair() -> (tempfile::TempDir, Store, Signer) {
        signer()
    }
}
