//! Authentication (bearer tokens), authorization (roles per kind and verb) and the
//! administrator token created on first start.
//!
//! Tokens are stored only as the hex SHA-256 of the token text. A request's token resolves
//! to a [`Principal`] (subject and roles); [`authorize`] then decides per kind, verb and
//! workspace. Today there is one role, `admin`; workspace roles (owner, member) plug into
//! [`authorize`] when workspaced kinds are served.

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
use crate::store::{Store, StoreError};

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

/// Decides whether `principal` may do `verb` on `kind` (in `workspace`, for workspaced
/// kinds). Any authenticated principal may read platform-level kinds (workspace users
/// build from them); only `admin` may write them.
pub fn authorize(
    principal: &Principal,
    verb: Verb,
    kind: &KindInfo,
    workspace: Option<&str>,
) -> Result<(), ApiError> {
    match kind.scope {
        Scope::Platform => {
            if !verb.is_write() || principal.has_role(ADMIN_ROLE) {
                Ok(())
            } else {
                Err(ApiError::forbidden(format!(
                    "{} may not {} {} objects: that needs the role {ADMIN_ROLE:?}, and this token has {}",
                    principal.subject,
                    verb.as_str(),
                    kind.kind,
                    describe_roles(&principal.roles)
                )))
            }
        }
        Scope::Workspace => {
            // Workspace owners and members come with workspaced kinds; until then only
            // administrators may touch them.
            if principal.has_role(ADMIN_ROLE) {
                Ok(())
            } else {
                Err(ApiError::forbidden(format!(
                    "{} may not {} {} objects in workspace {}: that needs the role {ADMIN_ROLE:?}, and this token has {}",
                    principal.subject,
                    verb.as_str(),
                    kind.kind,
                    workspace.unwrap_or("(none)"),
                    describe_roles(&principal.roles)
                )))
            }
        }
    }
}

fn describe_roles(roles: &[String]) -> String {
    if roles.is_empty() {
        "no roles".to_string()
    } else {
        format!("roles {}", roles.join(", "))
    }
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

const HOW_TO_AUTHENTICATE: &str = "send the header `Authorization: Bearer <token>`; on a new server the administrator token is in the file admin-token in the server's --data-dir";

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(format!(
                "authentication required: {HOW_TO_AUTHENTICATE}"
            )));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(format!(
                    "the Authorization header is not a bearer token: {HOW_TO_AUTHENTICATE}"
                ))
            })?;
        let hash = hash_token(token);
        let record = state
            .store
            .run(move |s| s.token(&hash))
            .await
            .and_then(|r| r)?;
        match record {
            Some(r) => Ok(Principal {
                subject: r.subject,
                roles: r.roles,
            }),
            None => Err(ApiError::unauthorized(format!(
                "the bearer token is not valid (unknown or revoked): {HOW_TO_AUTHENTICATE}"
            ))),
        }
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

/// Makes sure an administrator token exists. When the store has none (first start, or
/// `reset`, which revokes the old ones first): writes a new token to
/// `data_dir/admin-token` (mode 0600, through a temporary file and a rename so it is never
/// half-written), then records its hash. The token itself is never logged.
pub fn ensure_admin_token(
    store: &Store,
    data_dir: &Path,
    reset: bool,
) -> Result<AdminToken, AdminTokenError> {
    let file = data_dir.join(ADMIN_TOKEN_FILE);
    if reset {
        let n = store.delete_tokens(ADMIN_SUBJECT)?;
        tracing::info!(
            revoked = n,
            "revoked the administrator token (--reset-admin-token)"
        );
    }
    if store.count_tokens(ADMIN_SUBJECT)? > 0 {
        if file.exists() {
            return Ok(AdminToken::Existing(file));
        }
        tracing::warn!(
            "the store has an administrator token but its file {} is missing, so no new token was created; to recover, restore that file from a backup, or restart once with --reset-admin-token to revoke the old token and write a new one there",
            file.display()
        );
        return Ok(AdminToken::FileMissing(file));
    }
    let token = generate_token(ADMIN_TOKEN_PREFIX);
    // The file first: if we stop between the two steps, the store still has no
    // administrator token and the next start writes a fresh one.
    write_secret_file(&file, &token).map_err(|source| AdminTokenError::Write {
        path: file.clone(),
        source,
    })?;
    store.insert_token(
        &hash_token(&token),
        ADMIN_SUBJECT,
        &[ADMIN_ROLE],
        &crate::now_rfc3339(),
    )?;
    tracing::info!("created administrator token in {}", file.display());
    Ok(AdminToken::Created(file))
}

/// Writes `contents` to `path` with mode 0600, atomically: a temporary file in the same
/// directory, synced, then renamed over `path`.
fn write_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
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
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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
    fn tokens_are_url_safe_and_distinct() {
        let a = generate_token("wfa_");
        let b = generate_token("wfa_");
        assert_ne!(a, b);
        assert_eq!(a.len(), 44);
        assert!(a[4..].bytes().all(|c| TOKEN_ALPHABET.contains(&c)));
        assert_eq!(hash_token("x").len(), 64);
    }

    #[test]
    fn the_admin_token_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
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
