//! Token lineage: who minted a token, and how long it may live.
//!
//! An AccessToken created with another access token records its maker (`status.createdBy`,
//! and `minted_by` beside the token's hash in the store). Its lifetime cannot exceed its
//! maker's: a maker that expires cannot mint a token without expiry or one that outlives
//! it. Deleting (revoking) an AccessToken revokes every token it minted, and theirs in turn,
//! in the same commit ([`revoke_with_minted`]). A server-wide maximum lifetime
//! (`--max-token-ttl`) bounds every AccessToken, whoever creates it.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use wayfinder_model::kinds::ACCESS_TOKEN;
use wayfinder_model::org::AccessTokenSpec;

use crate::AppState;
use crate::auth::{Principal, parse_time};
use crate::status::{ApiError, Cause};
use crate::store::{Reads, StoreError, TokenWrite};

/// How far apart two expiry times may be and still count as the same (clock and
/// rounding: expiry times are stored to the second).
const SLACK: Duration = Duration::from_secs(2);

/// When a token of `spec` would expire if created now; `None` when it would not.
pub fn requested_expiry(spec: &AccessTokenSpec, now: SystemTime) -> Option<SystemTime> {
    match (&spec.expires_at, spec.ttl_duration()) {
        (Some(at), _) => parse_time(at),
        (None, Some(ttl)) => now.checked_add(ttl),
        (None, None) => None,
    }
}

/// The maker's `status.expiresAt`, when the principal is an access token.
fn maker_expiry(state: &AppState, principal: &Principal) -> Result<Option<String>, ApiError> {
    let Some((ws, name)) = crate::auth::parse_access_token_subject(&principal.subject) else {
        return Ok(None);
    };
    Ok(crate::auth::access_token_expires_at(&state.store, ws, name)?.flatten())
}

/// Refuses (`422`) an AccessToken `name` whose lifetime passes the server's maximum or its
/// maker's; see the module documentation.
pub fn check_mint(
    state: &AppState,
    principal: &Principal,
    name: &str,
    spec: &AccessTokenSpec,
) -> Result<(), ApiError> {
    let now = SystemTime::now();
    let wants = requested_expiry(spec, now);
    let field = if spec.expires_at.is_some() {
        "spec.expiresAt"
    } else {
        "spec.ttl"
    };
    let mut causes = Vec::new();
    if let Some(max) = state.max_token_ttl {
        let limit = now + max;
        if wants.is_none_or(|t| t > limit + SLACK) {
            causes.push(Cause::field(
                field,
                "FieldValueInvalid",
                format!(
                    "{}: this server allows access tokens to live at most {} (--max-token-ttl); give a ttl of at most that",
                    if wants.is_none() { "no expiry was given" } else { "the token would live longer than that" },
                    humantime::format_duration(max)
                ),
            ));
        }
    }
    if let Some(at) = maker_expiry(state, principal)? {
        let until = parse_time(&at).unwrap_or(now);
        if wants.is_none_or(|t| t > until + SLACK) {
            let left = until.duration_since(now).unwrap_or_default();
            causes.push(Cause::field(
                field,
                "FieldValueInvalid",
                format!(
                    "{} expires at {at}, and a token cannot outlive the token that mints it: give a ttl of at most {} or an expiresAt no later than {at}",
                    principal.subject,
                    humantime::format_duration(Duration::from_secs(left.as_secs()))
                ),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::refused(&ACCESS_TOKEN, name, causes))
    }
}

/// The token writes that revoke every token of `subject`, every token a token of it
/// minted, and what those minted in turn (for one commit); how many subjects lost their
/// tokens besides `subject`.
pub fn revoke_with_minted(
    reads: &dyn Reads,
    subject: &str,
) -> Result<(Vec<TokenWrite>, usize), StoreError> {
    let mut writes = crate::auth::revoke(reads, subject)?;
    let mut seen: HashSet<String> = HashSet::from([subject.to_string()]);
    let mut queue = vec![subject.to_string()];
    let mut revoked = 0;
    while let Some(maker) = queue.pop() {
        for child in reads.tokens_minted_by(&maker)? {
            if seen.insert(child.clone()) {
                writes.extend(crate::auth::revoke(reads, &child)?);
                revoked += 1;
                queue.push(child);
            }
        }
    }
    Ok((writes, revoked))
}
