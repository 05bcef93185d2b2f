//! Authentication (bearer tokens), authorization (roles per kind, verb and workspace) and
//! the administrator token created on first start.
//!
//! Tokens are stored only as the hex SHA-256 of the token text. A request's token resolves
//! to a [`Principal`] (subject and roles); [`authorize`] then decides per kind, verb and
//! workspace.
//!
//! **Kinds of token** ([`authenticate`], `docs/tokens.md`): a plain token (the
//! administrator's `wfa_…`, or a `wft_…` AccessToken secret from an older server) is looked
//! up by its hash. An AccessToken's secret is an exchange token ([`crate::jwt`]): its hash is
//! stored, and it is accepted only at `POST /api/v2/exchange` ([`authenticate_exchange`]),
//! which answers a signed API token. An API token is accepted by its signature and expiry
//! while the exchange token it names (`exchangedFrom`) is still recorded for the same
//! subject. Roles always come from the stored record.
//!
//! **Roles.** `admin` (platform-wide), and per workspace `owner` and `member`, stored on a
//! token as `owner:KEY` / `member:KEY` ([`workspace_role`]). Sources:
//! - the administrator token (`admin-token` in the data directory): `admin`;
//! - AccessToken objects (`org.appvia.io/v2beta1`, workspaced): a token in workspace `KEY`
//!   carries `owner`/`member` of `KEY`; a platform token (workspace `admin`) may carry
//!   `admin` too. The subject is `accesstoken/KEY/NAME` ([`access_token_subject`]). On every
//!   request the AccessToken object must still exist and its `status.expiresAt` (from
//!   `spec.ttl` or `spec.expiresAt`) must not have passed.
//! - Workspace `spec.owners[]` grant nothing here: they name Users, whom this server does
//!   not authenticate.
//!
//! **Matrix** ([`authorize`]): `admin` may do everything. Platform kinds: any valid token
//! reads, only `admin` writes. In workspace `KEY`: Clusters — owner and member read and
//! write; CloudAccessConfig, CloudIdentity, AssignableNetwork — owner and member read, only
//! `admin` writes; AccessTokens — owner reads, creates (with roles no higher than
//! `owner`), changes and deletes. Nobody but `admin` reaches a workspace they hold no
//! role in.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use rand::Rng;
use sha2::{Digest, Sha256};
use wayfinder_model::{KindInfo, Scope};

use crate::AppState;
use crate::status::ApiError;
use crate::store::{Batch, Reads, Store, StoreError, TokenRecord, TokenWrite};

/// The role that may create, change and delete platform-level kinds.
pub const ADMIN_ROLE: &str = "admin";

/// The subject of the administrator token created on first start.
pub const ADMIN_SUBJECT: &str = "admin";

/// The administrator token's file name inside the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Prefix of administrator tokens.
const ADMIN_TOKEN_PREFIX: &str = "wfa_";

/// Characters after the prefix: 40 from a 64-letter URL-safe alphabet (240 bits).
const TOKEN_RANDOM_CHARS: usize = 40;
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub roles: Vec<String>,
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// What a request does to a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Create,
    Update,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Delete => "delete",
        }
    }

    fn is_write(self) -> bool {
        matches!(self, Verb::Create | Verb::Update | Verb::Delete)
    }
}

/// A role in one workspace, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WorkspaceRole {
    Member,
    Owner,
}

impl WorkspaceRole {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceRole::Member => "member",
            WorkspaceRole::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(WorkspaceRole::Member),
            "owner" => Some(WorkspaceRole::Owner),
            _ => None,
        }
    }
}

/// The stored form of a workspace role: `owner:KEY`, `member:KEY`.
pub fn workspace_role(role: WorkspaceRole, workspace: &str) -> String {
    format!("{}:{workspace}", role.as_str())
}

/// The subject of the token of AccessToken `name` in `workspace`.
pub fn access_token_subject(workspace: &str, name: &str) -> String {
    format!("{ACCESS_TOKEN_SUBJECT}{workspace}/{name}")
}

/// How the subject of an AccessToken's token starts.
const ACCESS_TOKEN_SUBJECT: &str = "accesstoken/";

/// Whether `subject` is an AccessToken's ([`access_token_subject`]).
pub fn is_access_token_subject(subject: &str) -> bool {
    subject.starts_with(ACCESS_TOKEN_SUBJECT)
}

/// The workspace and name of the AccessToken whose subject is `subject`: the inverse of
/// [`access_token_subject`].
pub fn parse_access_token_subject(subject: &str) -> Option<(&str, &str)> {
    subject.strip_prefix(ACCESS_TOKEN_SUBJECT)?.split_once('/')
}

/// `status.expiresAt` of AccessToken `name` in `workspace`: `None` when there is no such
/// token, `Some(None)` when it does not expire.
pub fn access_token_expires_at(
    store: &crate::store::Store,
    workspace: &str,
    name: &str,
) -> Result<Option<Option<String>>, crate::store::StoreError> {
    let key =
        crate::store::ObjectKey::workspaced(&wayfinder_model::kinds::ACCESS_TOKEN, workspace, name);
    Ok(store.get(&key)?.map(|o| {
        o.body
            .pointer("/status/expiresAt")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    }))
}

/// The roles stored for an AccessToken in `workspace` whose `spec.roles` are `roles`:
/// `admin` stays `admin`; `owner`/`member` become `owner:KEY`/`member:KEY`.
pub fn token_roles(workspace: &str, roles: &[String]) -> Vec<String> {
    roles
        .iter()
        .map(|r| match WorkspaceRole::parse(r) {
            Some(w) => workspace_role(w, workspace),
            None => r.clone(),
        })
        .collect()
}

/// The claims of the exchange token of AccessToken `name` in `workspace` with `roles`
/// (its `spec.roles`): Wayfinder's scopes for an access token that is exchanged, and the
/// subject's groups as `/api/v2/whoami` shows them.
pub fn exchange_claims(
    signer: &crate::jwt::Signer,
    workspace: &str,
    name: &str,
    roles: &[String],
    expires: Option<std::time::SystemTime>,
) -> crate::jwt::Claims {
    let subject = access_token_subject(workspace, name);
    let mut claims = signer.claims(
        &subject,
        expires,
        &[crate::jwt::SCOPE_EXCHANGE, crate::jwt::SCOPE_ACCESS_TOKEN],
    );
    claims.preferred_username = name.to_string();
    claims.workspace = Some(workspace.to_string());
    let (wayfinder, by_ws) = groups(&token_roles(workspace, roles));
    claims.wayfinder_groups = wayfinder;
    claims.workspace_groups = by_ws;
    claims
}

/// Stored roles as Wayfinder's groups: platform groups (`admin`), and per workspace its
/// groups (`owner`, `member`).
pub fn groups(roles: &[String]) -> (Vec<String>, std::collections::BTreeMap<String, Vec<String>>) {
    let mut wayfinder = Vec::new();
    let mut by_ws: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in roles {
        match r.split_once(':') {
            Some((role, ws)) => by_ws
                .entry(ws.to_string())
                .or_default()
                .push(role.to_string()),
            None => wayfinder.push(r.clone()),
        }
    }
    (wayfinder, by_ws)
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.has_role(ADMIN_ROLE)
    }

    /// The strongest role this principal holds in `workspace`.
    pub fn workspace_role(&self, workspace: &str) -> Option<WorkspaceRole> {
        self.roles
            .iter()
            .filter_map(|r| {
                let (role, ws) = r.split_once(':')?;
                (ws == workspace).then(|| WorkspaceRole::parse(role))?
            })
            .max()
    }
}

/// Decides whether `principal` may do `verb` on `kind` (in `workspace`, for workspaced
/// kinds); see the module documentation for the matrix. A `403` names the roles that
/// would have been enough and the ones the token has.
pub fn authorize(
    principal: &Principal,
    verb: Verb,
    kind: &KindInfo,
    workspace: Option<&str>,
) -> Result<(), ApiError> {
    if principal.is_admin() {
        return Ok(());
    }
    let denied = |needs: String, where_: String| {
        ApiError::forbidden(format!(
            "{} may not {} {} objects{where_}: that needs {needs}, and this token has {}",
            principal.subject,
            verb.as_str(),
            kind.kind,
            describe_roles(&principal.roles)
        ))
    };
    match kind.scope {
        Scope::Platform => {
            if verb.is_write() {
                Err(denied(format!("the role {ADMIN_ROLE:?}"), String::new()))
            } else {
                Ok(())
            }
        }
        Scope::Workspace => {
            let ws = workspace.unwrap_or_default();
            let held = principal.workspace_role(ws);
            let needed = match kind.kind {
                "Cluster" => Some(WorkspaceRole::Member),
                "AccessToken" => Some(WorkspaceRole::Owner),
                "CloudAccessConfig" | "CloudIdentity" | "AssignableNetwork" if !verb.is_write() => {
                    Some(WorkspaceRole::Member)
                }
                _ => None,
            };
            match needed {
                Some(n) if held.is_some_and(|h| h >= n) => Ok(()),
                Some(n) => {
                    let roles = if n == WorkspaceRole::Member {
                        format!(
                            "the role {ADMIN_ROLE:?}, or \"owner\" or \"member\" of workspace {ws}"
                        )
                    } else {
                        format!("the role {ADMIN_ROLE:?}, or \"owner\" of workspace {ws}")
                    };
                    Err(denied(roles, format!(" in workspace {ws}")))
                }
                None => Err(denied(
                    format!("the role {ADMIN_ROLE:?} (administrators only)"),
                    format!(" in workspace {ws}"),
                )),
            }
        }
    }
}

fn describe_roles(roles: &[String]) -> String {
    if roles.is_empty() {
        return "no roles".to_string();
    }
    let described: Vec<String> = roles
        .iter()
        .map(|r| match r.split_once(':') {
            Some((role, ws)) => format!("{role:?} of workspace {ws}"),
            None => format!("{r:?}"),
        })
        .collect();
    format!("roles {}", described.join(", "))
}

/// The hex SHA-256 of a token: what the store keeps.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: `prefix` followed by 40 URL-safe random characters.
pub fn generate_token(prefix: &str) -> String {
    let mut rng = rand::rng();
    let mut token = String::with_capacity(prefix.len() + TOKEN_RANDOM_CHARS);
    token.push_str(prefix);
    for _ in 0..TOKEN_RANDOM_CHARS {
        token.push(TOKEN_ALPHABET[rng.random_range(0..TOKEN_ALPHABET.len())] as char);
    }
    token
}

/// The token of an `Authorization` header in any spelling authentication accepts
/// (`Bearer`, `bearer`, `BEARER`, extra spaces): the one canonical form of the caller's
/// identity, which the rate limit keys on too.
pub fn bearer_token(value: &axum::http::HeaderValue) -> Option<&str> {
    let v = value.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

const HOW_TO_AUTHENTICATE: &str = "send the header `Authorization: Bearer <token>`; on a new server the administrator token is in the file admin-token in the server's --data-dir";

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(format!(
                "authentication required: {HOW_TO_AUTHENTICATE}"
            )));
        };
        let token = bearer_token(value).ok_or_else(|| {
            ApiError::unauthorized(format!(
                "the Authorization header is not a bearer token: {HOW_TO_AUTHENTICATE}"
            ))
        })?;
        authenticate(state, token).await
    }
}

/// What to do with an AccessToken's token, said in every refusal of one sent directly.
pub const HOW_TO_EXCHANGE: &str = "an AccessToken's token is an exchange token (scope wayfinder:auth:exchange): trade it for a short-lived API token with `POST /api/v2/exchange?ttl=30m` and `Authorization: Bearer <exchange token>`, as Wayfinder's clients do (the Terraform provider does this itself), and send that API token instead";

/// The principal of a bearer token sent to the API: a plain token (the administrator's,
/// or an AccessToken's from before signed tokens) by its hash; a signed API token (from
/// `/api/v2/exchange`) by its signature, expiry and the exchange token it came from,
/// which must still be recorded. An exchange token is refused here ([`HOW_TO_EXCHANGE`]):
/// like Wayfinder's clients, send it to `/api/v2/exchange` only.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    if crate::jwt::looks_like_jwt(token) {
        let claims = state.signer.verify(token).map_err(|e| {
            ApiError::unauthorized(format!(
                "the bearer token is not valid: {e}; {}",
                match e {
                    crate::jwt::TokenError::Expired(_) => "exchange your AccessToken's token again at POST /api/v2/exchange (or create a new AccessToken if that one expired too)",
                    _ => HOW_TO_AUTHENTICATE,
                }
            ))
        })?;
        if claims.has_scope(crate::jwt::SCOPE_EXCHANGE) {
            return Err(ApiError::unauthorized(format!(
                "the bearer token is not accepted here: {HOW_TO_EXCHANGE}"
            )));
        }
        let Some(parent) = claims.exchanged_from.as_deref() else {
            return Err(ApiError::unauthorized(format!(
                "the bearer token is not an API token of this server: {HOW_TO_AUTHENTICATE}"
            )));
        };
        let record = state.store.token_fresh(parent).await?;
        let Some(r) = record.filter(|r| r.subject == claims.sub) else {
            return Err(ApiError::unauthorized(format!(
                "the bearer token is not valid: the AccessToken it was exchanged from ({}) was revoked or replaced; {HOW_TO_AUTHENTICATE}",
                claims.sub
            )));
        };
        if is_access_token_subject(&r.subject) {
            check_access_token(state, &r.subject).await?;
        }
        return Ok(Principal {
            subject: r.subject,
            roles: r.roles,
        });
    }
    let hash = hash_token(token);
    // From memory (after the read barrier only when it is not there: another replica may
    // have just created it).
    let record = state.store.token_fresh(&hash).await?;
    let Some(r) = record else {
        return Err(ApiError::unauthorized(format!(
            "the bearer token is not valid (unknown or revoked): {HOW_TO_AUTHENTICATE}"
        )));
    };
    if is_access_token_subject(&r.subject) {
        check_access_token(state, &r.subject).await?;
    }
    Ok(Principal {
        subject: r.subject,
        roles: r.roles,
    })
}

/// The principal of an exchange token presented at `/api/v2/exchange`, with its claims
/// and the key its record is stored under: signed by this server, not expired, with the
/// scope [`crate::jwt::SCOPE_EXCHANGE`], still recorded (not revoked) and its AccessToken
/// still there and unexpired. Each refusal says what to do.
pub async fn authenticate_exchange(
    state: &AppState,
    token: &str,
) -> Result<(Principal, crate::jwt::Claims, String), ApiError> {
    const CREATE: &str = "create an AccessToken (POST /resources/org.appvia.io/v2beta1/workspaces/KEY/accesstokens) and send the token it returns, once, in status.token";
    if !crate::jwt::looks_like_jwt(token) {
        return Err(ApiError::unauthorized(format!(
            "only an exchange token can be exchanged, and this bearer token is not one (a plain API token such as the administrator's is used directly, without exchange); {CREATE}"
        )));
    }
    let claims = state.signer.verify(token).map_err(|e| {
        let what = match e {
            crate::jwt::TokenError::Expired(_) => {
                "its AccessToken has expired: create a new AccessToken"
            }
            _ => CREATE,
        };
        ApiError::unauthorized(format!("the exchange token is not valid: {e}; {what}"))
    })?;
    if !claims.has_scope(crate::jwt::SCOPE_EXCHANGE) {
        return Err(ApiError::unauthorized(format!(
            "the bearer token lacks the scope {}: it is an API token already (send it to the API directly), not an exchange token; {CREATE}",
            crate::jwt::SCOPE_EXCHANGE
        )));
    }
    let hash = hash_token(token);
    let Some(r) = state
        .store
        .token_fresh(&hash)
        .await?
        .filter(|r| r.subject == claims.sub)
    else {
        return Err(ApiError::unauthorized(format!(
            "the exchange token of {} was revoked (its AccessToken was deleted or replaced); {CREATE}",
            claims.sub
        )));
    };
    if is_access_token_subject(&r.subject) {
        check_access_token(state, &r.subject).await?;
    }
    Ok((
        Principal {
            subject: r.subject,
            roles: r.roles,
        },
        claims,
        hash,
    ))
}

/// An AccessToken's token is valid while its object exists and `status.expiresAt` has not
/// passed. `subject` is the token's ([`access_token_subject`]).
async fn check_access_token(state: &AppState, subject: &str) -> Result<(), ApiError> {
    let Some((ws, name)) = parse_access_token_subject(subject) else {
        return Err(ApiError::unauthorized("the bearer token is not valid"));
    };
    let Some(expires) = access_token_expires_at(&state.store, ws, name)? else {
        return Err(ApiError::unauthorized(format!(
            "the bearer token is not valid: its AccessToken {ws}/{name} was deleted (revoked); {HOW_TO_AUTHENTICATE}"
        )));
    };
    if let Some(at) = expires
        && parse_time(&at).is_none_or(|t| t <= std::time::SystemTime::now())
    {
        return Err(ApiError::unauthorized(format!(
            "the bearer token of AccessToken {ws}/{name} expired at {at}; create a new token"
        )));
    }
    Ok(())
}

/// Parses an RFC 3339 time (`Z` or a `±HH:MM` offset, optional fraction).
pub fn parse_time(s: &str) -> Option<std::time::SystemTime> {
    if !wayfinder_model::org::is_rfc3339(s) {
        return None;
    }
    let (base, offset_secs) = match s.as_bytes().get(19..) {
        Some(tail) => {
            let tail = std::str::from_utf8(tail).ok()?;
            let frac_end = tail
                .strip_prefix('.')
                .map(|f| 1 + f.bytes().take_while(u8::is_ascii_digit).count())
                .unwrap_or(0);
            let zone = &tail[frac_end..];
            let offset: i64 = if zone.eq_ignore_ascii_case("z") {
                0
            } else {
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                let h: i64 = zone.get(1..3)?.parse().ok()?;
                let m: i64 = zone.get(4..6)?.parse().ok()?;
                sign * (h * 3600 + m * 60)
            };
            (format!("{}Z", &s[..19 + frac_end]), offset)
        }
        None => return None,
    };
    let t = humantime::parse_rfc3339_weak(base.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(&base))
        .ok()?;
    let d = std::time::Duration::from_secs(offset_secs.unsigned_abs());
    if offset_secs >= 0 {
        t.checked_sub(d)
    } else {
        t.checked_add(d)
    }
}

/// Errors while creating the administrator token.
#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    #[error("cannot write the administrator token file {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot record the administrator token in the store")]
    Store(#[from] StoreError),
}

/// What [`ensure_admin_token`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminToken {
    /// A new token was written to the file.
    Created(PathBuf),
    /// The store already had one; the file was left as it was.
    Existing(PathBuf),
    /// The store already had one but its file is gone; nothing was created.
    FileMissing(PathBuf),
}

/// Makes sure an administrator token exists, once per control plane. When the store has
/// none (first start, or `reset`, which revokes the old ones first): the new token is
/// written to a temporary file beside `data_dir/admin-token` (mode 0600, synced), its hash
/// committed by a decision that writes it only if the administrator still has no token
/// (another replica may have made one meanwhile), and only then is the file renamed into
/// place, so a replica that loses the race leaves the file alone. A start that stopped
/// between the commit and the rename finishes the rename the next time. The token itself
/// is never logged.
pub fn ensure_admin_token(
    store: &Store,
    data_dir: &Path,
    reset: bool,
) -> Result<AdminToken, AdminTokenError> {
    let file = data_dir.join(ADMIN_TOKEN_FILE);
    if reset {
        let (n, _) = store.commit::<_, StoreError>(false, None, |r| {
            let tokens = revoke(r, ADMIN_SUBJECT)?;
            let n = tokens.len();
            Ok((
                Batch {
                    objects: Vec::new(),
                    tokens,
                },
                n,
            ))
        })?;
        tracing::info!(
            revoked = n,
            "revoked the administrator token (--reset-admin-token)"
        );
    }
    /// Why the bootstrap decision wrote nothing.
    enum Refused {
        Exists,
        Store(StoreError),
    }
    impl From<StoreError> for Refused {
        fn from(e: StoreError) -> Self {
            Refused::Store(e)
        }
    }
    let existing = store.tokens_of(ADMIN_SUBJECT)?;
    if existing.is_empty() {
        let token = generate_token(ADMIN_TOKEN_PREFIX);
        let write_err = |source| AdminTokenError::Write {
            path: file.clone(),
            source,
        };
        let tmp = write_secret_tmp(&file, &token).map_err(write_err)?;
        let record = TokenRecord {
            subject: ADMIN_SUBJECT.to_string(),
            roles: vec![ADMIN_ROLE.to_string()],
            created: crate::now_rfc3339(),
            minted_by: String::new(),
        };
        let hash = hash_token(&token);
        let made = store.commit(false, None, |r| {
            if !r.tokens_of(ADMIN_SUBJECT)?.is_empty() {
                return Err(Refused::Exists);
            }
            let put = TokenWrite::Put {
                hash: hash.clone(),
                record: record.clone(),
            };
            Ok((
                Batch {
                    objects: Vec::new(),
                    tokens: vec![put],
                },
                (),
            ))
        });
        match made {
            Ok(_) => {
                publish_secret(&tmp, &file).map_err(write_err)?;
                tracing::info!("created administrator token in {}", file.display());
                return Ok(AdminToken::Created(file));
            }
            Err(refused) => {
                let _ = fs::remove_file(&tmp);
                if let Refused::Store(e) = refused {
                    return Err(e.into());
                }
                tracing::info!("another replica created the administrator token");
            }
        }
    }
    if file.exists() {
        return Ok(AdminToken::Existing(file));
    }
    // A start that stopped after committing the token but before renaming its file.
    let hashes: Vec<String> = store
        .tokens_of(ADMIN_SUBJECT)?
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    if let Some(tmp) = leftover_secret(&file, &hashes) {
        publish_secret(&tmp, &file).map_err(|source| AdminTokenError::Write {
            path: file.clone(),
            source,
        })?;
        tracing::info!(
            "finished writing the administrator token file {}",
            file.display()
        );
        return Ok(AdminToken::Existing(file));
    }
    if store.is_shared() {
        tracing::info!(
            "the control plane's administrator token exists: the replica that created it wrote it to admin-token in its --data-dir (not this one's, {})",
            data_dir.display()
        );
        return Ok(AdminToken::FileMissing(file));
    }
    tracing::warn!(
        "the store has an administrator token but its file {} is missing, so no new token was created; to recover, restore that file from a backup, or restart once with --reset-admin-token to revoke the old token and write a new one there",
        file.display()
    );
    Ok(AdminToken::FileMissing(file))
}

/// The token writes that remove every token of `subject`, for one commit.
pub fn revoke(reads: &dyn Reads, subject: &str) -> Result<Vec<TokenWrite>, StoreError> {
    Ok(reads
        .tokens_of(subject)?
        .into_iter()
        .map(|(hash, _)| TokenWrite::Delete { hash })
        .collect())
}

/// The temporary files of `path` ([`write_secret_tmp`]) in its directory.
fn secret_tmp_files(path: &Path) -> Vec<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let prefix = format!(
        ".{}.",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".tmp"))
        })
        .collect()
}

/// A temporary file of `path` holding a token whose hash is one of `hashes`.
fn leftover_secret(path: &Path, hashes: &[String]) -> Option<PathBuf> {
    secret_tmp_files(path).into_iter().find(|tmp| {
        fs::read_to_string(tmp).is_ok_and(|t| hashes.iter().any(|h| *h == hash_token(t.trim())))
    })
}

/// Writes `contents` with mode 0600 to a new temporary file in `path`'s directory, synced;
/// [`publish_secret`] renames it over `path`.
fn write_secret_tmp(path: &Path, contents: &str) -> std::io::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix: u64 = rand::rng().random();
    let tmp = dir.join(format!(".{file_name}.{suffix:016x}.tmp"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The umask can only clear bits, but make the mode exact anyway.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        Ok(())
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Renames `tmp` over `path` atomically and syncs the directory.
fn publish_secret(tmp: &Path, path: &Path) -> std::io::Result<()> {
    fs::rename(tmp, path)?;
    if let Ok(d) = fs::File::open(path.parent().unwrap_or(Path::new("."))) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wayfinder_model::kinds::COMPUTE_TEMPLATE;

    fn principal(roles: &[&str]) -> Principal {
        Principal {
            subject: "someone".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn only_admins_write_platform_kinds_and_everyone_reads_them() {
        let admin = principal(&["admin"]);
        let viewer = principal(&[]);
        for verb in [
            Verb::Get,
            Verb::List,
            Verb::Create,
            Verb::Update,
            Verb::Delete,
        ] {
            assert!(authorize(&admin, verb, &COMPUTE_TEMPLATE, None).is_ok());
        }
        for verb in [Verb::Get, Verb::List] {
            assert!(authorize(&viewer, verb, &COMPUTE_TEMPLATE, None).is_ok());
        }
        for verb in [Verb::Create, Verb::Update, Verb::Delete] {
            let e = authorize(&viewer, verb, &COMPUTE_TEMPLATE, None).unwrap_err();
            assert_eq!(e.code.as_u16(), 403);
            assert!(e.message.contains("\"admin\""), "{}", e.message);
        }
    }

    #[test]
    fn workspace_roles_reach_only_their_workspace() {
        use wayfinder_model::kinds::{ACCESS_TOKEN, CLOUD_ACCESS_CONFIG, CLUSTER};
        let member = principal(&["member:pay"]);
        let owner = principal(&["owner:pay"]);
        for verb in [
            Verb::Get,
            Verb::List,
            Verb::Create,
            Verb::Update,
            Verb::Delete,
        ] {
            assert!(authorize(&member, verb, &CLUSTER, Some("pay")).is_ok());
            assert!(authorize(&member, verb, &CLUSTER, Some("web")).is_err());
            assert!(authorize(&owner, verb, &ACCESS_TOKEN, Some("pay")).is_ok());
            assert!(authorize(&member, verb, &ACCESS_TOKEN, Some("pay")).is_err());
        }
        assert!(authorize(&member, Verb::Get, &CLOUD_ACCESS_CONFIG, Some("pay")).is_ok());
        let e = authorize(&owner, Verb::Create, &CLOUD_ACCESS_CONFIG, Some("pay")).unwrap_err();
        assert!(e.message.contains("administrators only"), "{}", e.message);
        let e = authorize(&member, Verb::Create, &ACCESS_TOKEN, Some("pay")).unwrap_err();
        assert!(
            e.message.contains("\"owner\" of workspace pay"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("\"member\" of workspace pay"),
            "{}",
            e.message
        );
    }

    #[test]
    fn times_with_offsets_parse() {
        let z = parse_time("2030-01-31T00:00:00Z").unwrap();
        assert_eq!(parse_time("2030-01-31T01:00:00+01:00").unwrap(), z);
        assert_eq!(
            parse_time("2030-01-30T23:00:00.5-01:00").unwrap(),
            z + std::time::Duration::from_millis(500) + std::time::Duration::from_secs(0)
        );
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn tokens_are_url_safe_and_distinct() {
        let a = generate_token("wfa_");
        let b = generate_token("wfa_");
        assert_ne!(a, b);
        assert_eq!(a.len(), 44);
        assert!(a[4..].bytes().all(|c| TOKEN_ALPHABET.contains(&c)));
        assert_eq!(hash_token("x").len(), 64);
    }

    #[test]
    fn a_start_stopped_between_the_token_commit_and_its_file_finishes_the_file_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("w.db")).unwrap();
        let file = dir.path().join(ADMIN_TOKEN_FILE);
        // As a start leaves it when it stops after the commit, before the rename.
        let token = generate_token(ADMIN_TOKEN_PREFIX);
        let tmp = write_secret_tmp(&file, &token).unwrap();
        store
            .put_token(
                &hash_token(&token),
                TokenRecord::new(ADMIN_SUBJECT, &[ADMIN_ROLE], "2025-01-01T00:00:00Z"),
            )
            .unwrap();
        assert!(!file.exists());
        assert_eq!(
            ensure_admin_token(&store, dir.path(), false).unwrap(),
            AdminToken::Existing(file.clone())
        );
        assert_eq!(fs::read_to_string(&file).unwrap(), token);
        assert!(!tmp.exists());
        // A leftover of a start that lost (its token never committed) is not taken.
        fs::remove_file(&file).unwrap();
        write_secret_tmp(&file, &generate_token(ADMIN_TOKEN_PREFIX)).unwrap();
        assert_eq!(
            ensure_admin_token(&store, dir.path(), false).unwrap(),
            AdminToken::FileMissing(file.clone())
        );
    }

    #[test]
    fn the_admin_token_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("w.db")).unwrap();
        let file = dir.path().join(ADMIN_TOKEN_FILE);
        assert_eq!(
            ensure_admin_token(&store, dir.path(), false).unwrap(),
            AdminToken::Created(file.clone())
        );
        let token = fs::read_to_string(&file).unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            store.token(&hash_token(&token)).unwrap().unwrap().roles,
            ["admin"]
        );
        assert_eq!(
            ensure_admin_token(&store, dir.path(), false).unwrap(),
            AdminToken::Existing(file.clone())
        );
        assert_eq!(fs::read_to_string(&file).unwrap(), token);
        fs::remove_file(&file).unwrap();
        assert_eq!(
            ensure_admin_token(&store, dir.path(), false).unwrap(),
            AdminToken::FileMissing(file.clone())
        );
        assert!(!file.exists());
        assert_eq!(
            ensure_admin_token(&store, dir.path(), true).unwrap(),
            AdminToken::Created(file.clone())
        );
        let new = fs::read_to_string(&file).unwrap();
        assert!(store.token(&hash_token(&token)).unwrap().is_none());
        assert!(store.token(&hash_token(&new)).unwrap().is_some());
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
}
