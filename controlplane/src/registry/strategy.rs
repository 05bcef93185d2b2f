//! What differs by kind when the registry writes an object, in one place per kind: the
//! hooks the generic create and delete ([`super`]) call, as Kubernetes' apiserver calls a
//! kind's create strategy around its generic store. A kind without its own strategy gets
//! [`Generic`]: nothing added.
//!
//! - [`AccessToken`]: the creator may grant only roles it holds; the lifetime is checked
//!   against its maker's ([`crate::lineage`]); a Wayfinder-shaped exchange token is minted
//!   before the decision, its hash committed with the object (replacing any earlier token
//!   of that name) and the token itself shown once in the answer; `status.createdBy` names
//!   the maker. Its delete revokes the token and every token minted from it, in the same
//!   commit.
//! - [`Cluster`]: created `Pending` (the reconciler provisions it); deleted in two phases,
//!   marked `Deleting` here and removed by the reconciler once the cloud cluster is gone.

use serde_json::{Map, Value, json};
use wayfinder_model::Object;
use wayfinder_model::kinds::{ACCESS_TOKEN, CLUSTER, KindInfo};

use super::Caller;
use crate::admission::Admitted;
use crate::auth;
use crate::status::ApiError;
use crate::store::{Mutation, Reads, StoredObject, TokenRecord, TokenWrite};

/// What a kind's strategy made before a create's decision, carried into it and into the
/// answer.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Who made the object, for kinds that record it.
    pub maker: Option<String>,
    /// A secret made for the object: committed only as its hash, shown once in the answer.
    pub secret: Option<String>,
}

/// One stored object a delete's decision removes: what it read, the workspace and name.
pub struct Doomed<'a> {
    pub reads: &'a dyn Reads,
    pub ws: Option<&'a str>,
    pub name: &'a str,
    pub current: StoredObject,
}

/// What deleting one stored object writes.
#[derive(Debug)]
pub struct Deletion {
    /// The object's write: removed, or (two-phase) written marked for deletion.
    pub mutation: Mutation,
    /// The object as the answer shows it.
    pub body: Value,
    /// Token writes committed with it.
    pub tokens: Vec<TokenWrite>,
}

impl Deletion {
    /// The object's write and answer, with no token writes.
    fn of(mutation: Mutation, body: Value) -> Self {
        Deletion {
            mutation,
            body,
            tokens: Vec::new(),
        }
    }
}

/// A kind's part in the generic writes. Every hook has a default that adds nothing.
pub trait KindStrategy: Sync {
    /// Before the decision, once per create: refusals that depend on the caller, and what
    /// is made outside the store (a minted token; none on a dry run).
    fn prepare_create(
        &self,
        _cx: Caller<'_>,
        _ws: Option<&str>,
        _object: &Object,
    ) -> Result<Prepared, ApiError> {
        Ok(Prepared::default())
    }

    /// Inside the create's decision, after admission: status fields to add to admission's,
    /// and the token writes committed with the object (or neither is committed).
    fn admit(
        &self,
        _reads: &dyn Reads,
        _ws: Option<&str>,
        _object: &Object,
        _prepared: &Prepared,
        _created: &str,
        _admitted: &mut Admitted,
    ) -> Result<Vec<TokenWrite>, ApiError> {
        Ok(Vec::new())
    }

    /// The status a new object starts with, before admission's fields.
    fn finish(&self, _status: &mut Map<String, Value>) {}

    /// The create's answer, once committed: what only it may show.
    fn answer(&self, _prepared: Prepared, _body: &mut Value) {}

    /// Inside a delete's decision: what deleting `current` writes.
    fn on_delete(&self, d: Doomed<'_>) -> Result<Deletion, ApiError> {
        Ok(Deletion::of(Mutation::Delete, d.current.body))
    }
}

/// The strategy of `kind`.
pub fn strategy(kind: &KindInfo) -> &'static dyn KindStrategy {
    if kind == &ACCESS_TOKEN {
        &AccessToken
    } else if kind == &CLUSTER {
        &Cluster
    } else {
        &Generic
    }
}

/// Every kind without its own strategy.
pub struct Generic;

impl KindStrategy for Generic {}

/// AccessTokens: see the module documentation.
pub struct AccessToken;

fn roles_of(object: &Object) -> Vec<String> {
    match object {
        Object::AccessToken(t) => t.spec.roles.clone().unwrap_or_default(),
        _ => Vec::new(),
    }
}

impl KindStrategy for AccessToken {
    fn prepare_create(
        &self,
        cx: Caller<'_>,
        ws: Option<&str>,
        object: &Object,
    ) -> Result<Prepared, ApiError> {
        let roles = roles_of(object);
        if !cx.principal.is_admin() && roles.iter().any(|r| r == auth::ADMIN_ROLE) {
            return Err(ApiError::forbidden(format!(
                "{} may not create a token with the role {:?}: a token may carry only roles its creator holds, and this token is not an administrator",
                cx.principal.subject,
                auth::ADMIN_ROLE
            )));
        }
        let mut secret = None;
        if let Object::AccessToken(t) = object {
            let name = &t.metadata.name;
            crate::lineage::check_mint(cx.state, cx.principal, name, &t.spec)?;
            if !cx.dry_run {
                // A Wayfinder-shaped exchange token; only its hash is kept.
                let expires =
                    crate::lineage::requested_expiry(&t.spec, std::time::SystemTime::now());
                let ws = ws.unwrap_or_default();
                let claims = auth::exchange_claims(&cx.state.signer, ws, name, &roles, expires);
                secret = Some(
                    cx.state
                        .signer
                        .sign(&claims)
                        .map_err(|e| ApiError::internal(&e))?,
                );
            }
        }
        Ok(Prepared {
            maker: Some(cx.principal.subject.clone()),
            secret,
        })
    }

    fn admit(
        &self,
        reads: &dyn Reads,
        ws: Option<&str>,
        object: &Object,
        prepared: &Prepared,
        created: &str,
        admitted: &mut Admitted,
    ) -> Result<Vec<TokenWrite>, ApiError> {
        if let Some(m) = &prepared.maker {
            admitted.status.insert("createdBy".into(), json!(m));
        }
        let (Some(secret), Some(ws)) = (&prepared.secret, ws) else {
            return Ok(Vec::new());
        };
        // The token's hash commits with its object, or neither does.
        let subject = auth::access_token_subject(ws, &object.metadata().name);
        let mut tokens = auth::revoke(reads, &subject)?;
        tokens.push(TokenWrite::Put {
            hash: auth::hash_token(secret),
            record: TokenRecord {
                subject,
                roles: auth::token_roles(ws, &roles_of(object)),
                created: created.to_string(),
                minted_by: prepared.maker.clone().unwrap_or_default(),
            },
        });
        Ok(tokens)
    }

    fn answer(&self, prepared: Prepared, body: &mut Value) {
        if let Some(token) = prepared.secret
            && let Some(status) = body.get_mut("status").and_then(Value::as_object_mut)
        {
            // Returned this once; only its hash is kept.
            status.insert("token".into(), json!(token));
        }
    }

    fn on_delete(&self, d: Doomed<'_>) -> Result<Deletion, ApiError> {
        let mut deletion = Deletion::of(Mutation::Delete, d.current.body);
        if let Some(ws) = d.ws {
            // Revoked with the object, in the same commit.
            let subject = auth::access_token_subject(ws, d.name);
            (deletion.tokens, _) = crate::lineage::revoke_with_minted(d.reads, &subject)?;
        }
        Ok(deletion)
    }
}

/// Clusters: see the module documentation.
pub struct Cluster;

impl KindStrategy for Cluster {
    fn finish(&self, status: &mut Map<String, Value>) {
        status.insert("status".into(), json!("Pending"));
        status.insert(
            "message".into(),
            json!("accepted; waiting to be provisioned"),
        );
    }

    fn on_delete(&self, d: Doomed<'_>) -> Result<Deletion, ApiError> {
        // Two phases: marked Deleting here, removed by the reconciler once the cloud
        // cluster is gone.
        let (mutation, body) = crate::reconciler::deletion_mutation(d.current);
        Ok(Deletion::of(mutation, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_cluster_starts_with_a_status_of_its_kind() {
        for kind in wayfinder_model::kinds::ALL {
            let mut status = Map::new();
            strategy(kind).finish(&mut status);
            if *kind == &CLUSTER {
                assert_eq!(status["status"], "Pending");
                assert_eq!(status["message"], "accepted; waiting to be provisioned");
            } else {
                assert!(status.is_empty(), "{}: {status:?}", kind.kind);
            }
        }
    }

    #[test]
    fn only_an_access_tokens_answer_shows_its_secret() {
        let prepared = Prepared {
            maker: Some("admin".into()),
            secret: Some("the-token".into()),
        };
        for kind in wayfinder_model::kinds::ALL {
            let mut body = json!({"status": {"status": "Ready"}});
            strategy(kind).answer(prepared.clone(), &mut body);
            let shown = body.pointer("/status/token").and_then(Value::as_str);
            let want = (*kind == &ACCESS_TOKEN).then_some("the-token");
            assert_eq!(shown, want, "{}", kind.kind);
        }
    }
}
