//! Requests at a legacy version ([`wayfinder_model::legacy`]): a served one converted to
//! the storage version ([`to_current`]) and the answer back ([`show`]); a migrated one
//! refused, saying how to migrate ([`refused`]); a v2beta1 ClusterPlan, which is several
//! current objects ([`legacy::Handling::Joined`]), read and written together ([`joined_list`],
//! [`joined_get`], [`joined_write`], [`joined_delete`]: the one place their store calls
//! are).

use axum::http::StatusCode;
use serde_json::{Value, json};
use wayfinder_model::Object;
use wayfinder_model::kinds::KindInfo;
use wayfinder_model::legacy::{self, LegacyKind};

use super::{
    Caller, ListOptions, Target, VersionSel, Written, already_exists, collection_path, list_body,
    mismatch, modified, not_found, parse_body, place, set_resource_version, updated_row,
};
use crate::admission::{self, Admitted, Operation};
use crate::auth::{Principal, Verb, authorize};
use crate::keys::{new_uid, object_key};
use crate::status::{ApiError, Cause, Details};
use crate::store::{Batch, Mutation, NewRow, ObjectKey, Reads, Store, StoredObject, parse_stored};

/// The refusal of a write (`422`) or a read (`404`) at a migrated legacy version, saying how
/// to migrate; `Ok` for one that is served.
pub fn refused(t: &Target, old: &LegacyKind, write: bool) -> Result<(), ApiError> {
    let Some(refusal) = old.refusal() else {
        return Ok(());
    };
    Err(if write {
        let mut details = Details::object(t.kind, t.name.as_deref().unwrap_or_default());
        details.causes.push(Cause::field(
            "apiVersion",
            "FieldValueNotSupported",
            refusal.clone(),
        ));
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", refusal).with_details(details)
    } else {
        ApiError::not_found(refusal)
    })
}

/// A request body at a legacy version as the storage version's. A body already at the
/// storage version passes as it is; one the conversion cannot place is refused with a cause
/// per field.
pub fn to_current(
    kind: &'static KindInfo,
    old: &LegacyKind,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        // parse_body says what is wrong with it.
        Err(_) => return Ok(body.to_vec()),
    };
    if value.get("apiVersion").and_then(Value::as_str) != Some(old.api_version().as_str()) {
        return Ok(body.to_vec());
    }
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match legacy::to_current(&value) {
        Ok(object) => Ok(serde_json::to_vec(&object).unwrap_or_default()),
        Err(errors) => Err(refusal_of(kind, &name, &errors)),
    }
}

fn refusal_of(kind: &KindInfo, name: &str, errors: &[legacy::LegacyError]) -> ApiError {
    ApiError::refused(
        kind,
        name,
        errors
            .iter()
            .map(|e| Cause::field(e.path.to_string(), "FieldValueInvalid", e.message.clone()))
            .collect(),
    )
}

/// An answer (an object or a list) as the legacy version shows it.
pub fn show(old: &LegacyKind, answer: &mut Value) {
    let convert = |v: &mut Value| {
        if let Ok(object) = wayfinder_model::parse::object_from_value("stored", 0, v.clone())
            && let Some(shown) = legacy::to_legacy(old, &object)
        {
            *v = shown;
        }
    };
    if let Some(items) = answer.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(convert);
        if let Some(v) = answer.get_mut("apiVersion") {
            *v = Value::String(old.api_version());
        }
    } else {
        convert(answer);
    }
}

/// The version of a joined legacy object a path names: `…/{name}` is
/// [`legacy::MIGRATED_VERSION`].
fn joined_version(t: &Target) -> String {
    match &t.version {
        VersionSel::One(v) => v.clone(),
        _ => legacy::MIGRATED_VERSION.to_string(),
    }
}

/// The legacy object as it reads back: the plan joined with what it names.
fn show_joined(
    store: &Store,
    principal: &Principal,
    old: &LegacyKind,
    plan: &Value,
) -> Result<Value, ApiError> {
    let Some(object) = parse_stored(plan) else {
        return Ok(plan.clone());
    };
    let mut joined = Vec::new();
    for (k, n) in legacy::joined_with(old, &object) {
        authorize(principal, Verb::Get, k, None)?;
        if let Some(o) = store
            .get(&object_key(k, None, &n, None))?
            .and_then(|o| parse_stored(&o.body))
        {
            joined.push(o);
        }
    }
    Ok(legacy::to_legacy_joined(old, &object, &joined).unwrap_or_else(|| plan.clone()))
}

/// A plan and the objects written with it, as the legacy object (from what was written,
/// not what is stored now).
fn shown_written(old: &LegacyKind, bodies: &[Value]) -> Option<Value> {
    let plan = parse_stored(&bodies[0])?;
    let joined: Vec<Object> = bodies[1..].iter().filter_map(parse_stored).collect();
    legacy::to_legacy_joined(old, &plan, &joined)
}

/// A `Warning` text per object a joined write wrote (logged too, unless a dry run).
fn warnings(
    cx: Caller<'_>,
    t: &Target,
    old: &LegacyKind,
    verb: &str,
    bodies: &[Value],
) -> Vec<String> {
    let mut out = Vec::new();
    for b in bodies {
        if let Some(o) = parse_stored(b) {
            let what = match o.version() {
                Some(v) => format!("{} version {v}", o.display_name()),
                None => o.display_name(),
            };
            let text = format!(
                "{} ({}) {verb} for {}/{} ({})",
                what,
                o.kind_info().api_version(),
                t.kind.kind,
                t.name.clone().unwrap_or_else(|| o.metadata().name.clone()),
                old.api_version()
            );
            if !cx.dry_run {
                tracing::info!(subject = %cx.principal.subject, object = %what, "{verb}");
            }
            out.push(text);
        }
    }
    out
}

/// `GET` of a joined legacy kind's collection (or of every version of a name): the plans,
/// each joined with what it names.
pub async fn joined_list(
    cx: Caller<'_>,
    t: &Target,
    old: &'static LegacyKind,
    opts: &ListOptions,
) -> Result<Value, ApiError> {
    let kind = t.kind;
    authorize(cx.principal, Verb::List, kind, None)?;
    let store = &cx.state.store;
    let (rv, items) = store.list(kind.group, kind.kind, "")?;
    let mut shown = Vec::new();
    for o in items {
        let name = o.body.pointer("/metadata/name").and_then(Value::as_str);
        let labels = o
            .body
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        if t.name.as_deref().is_none_or(|n| Some(n) == name)
            && opts.label_selector.iter().all(|r| r.matches(labels))
        {
            shown.push(show_joined(store, cx.principal, old, &o.body)?);
        }
    }
    if let (Some(name), true) = (&t.name, shown.is_empty()) {
        return Err(not_found(kind, None, name, None));
    }
    let mut list = list_body(kind, rv, shown);
    list["apiVersion"] = json!(old.api_version());
    Ok(list)
}

/// `GET` of one joined legacy object: the plan version joined with its template.
pub async fn joined_get(
    cx: Caller<'_>,
    t: &Target,
    old: &'static LegacyKind,
) -> Result<Value, ApiError> {
    let kind = t.kind;
    authorize(cx.principal, Verb::Get, kind, None)?;
    let name = t.name.clone().unwrap_or_default();
    let version = joined_version(t);
    let store = &cx.state.store;
    match store.get(&object_key(kind, None, &name, Some(&version)))? {
        Some(o) => show_joined(store, cx.principal, old, &o.body),
        None => Err(not_found(kind, None, &name, Some(&version))),
    }
}

/// `DELETE` of one joined legacy object: the plan version and what was produced from it,
/// in one write (a dependant blocks both).
pub async fn joined_delete(
    cx: Caller<'_>,
    t: &Target,
    old: &'static LegacyKind,
) -> Result<Written, ApiError> {
    let kind = t.kind;
    authorize(cx.principal, Verb::Delete, kind, None)?;
    let n = t.name.clone().unwrap_or_default();
    let v = joined_version(t);
    let who = cx.principal.clone();
    let dry_run = cx.dry_run;
    let deleted = cx
        .state
        .store
        .run(move |s| {
            // One transaction: the plan version and what was produced from it are deleted
            // together, or neither is (a dependant blocks both).
            s.commit(dry_run, None, |r: &dyn Reads| {
                let key = object_key(kind, None, &n, Some(&v));
                let Some(current) = r.get(&key)? else {
                    return Err(not_found(kind, None, &n, Some(&v)));
                };
                admission::check_delete(r, kind, None, &n, &[Some(v.clone())])?;
                let mut batch = Batch::object(key, Mutation::Delete);
                let mut deleted = vec![current.body.clone()];
                let joined = parse_stored(&current.body)
                    .map(|p| legacy::joined_with(old, &p))
                    .unwrap_or_default();
                for (k, jn) in joined {
                    let key = object_key(k, None, &jn, None);
                    let Some(j) = r.get(&key)? else { continue };
                    // Only what this legacy object produced goes with it.
                    if !parse_stored(&j.body).is_some_and(|o| legacy::produced_by(&o, old, &n)) {
                        continue;
                    }
                    authorize(&who, Verb::Delete, k, None)?;
                    // Checked as the batch leaves things: the plan version that depends
                    // on it goes in the same write.
                    let gone: Vec<ObjectKey> =
                        batch.objects.iter().map(|(k, _)| k.clone()).collect();
                    let after = crate::store::Without {
                        reads: r,
                        gone: &gone,
                    };
                    admission::check_delete(&after, k, None, &jn, &[None])?;
                    batch.objects.push((key, Mutation::Delete));
                    deleted.push(j.body);
                }
                Ok::<_, ApiError>((batch, deleted))
            })
            .map(|(deleted, _)| deleted)
        })
        .await??;
    let warnings = warnings(cx, t, old, "deleted", &deleted);
    let object = shown_written(old, &deleted).unwrap_or_else(|| deleted[0].clone());
    Ok(Written {
        object,
        created: false,
        warnings,
    })
}

/// What a joined legacy write ([`joined_write`]) decided for one of the objects it
/// commits: where it goes, what it is, what is there now and what admission added.
struct JoinedWrite {
    key: ObjectKey,
    object: Object,
    current: Option<StoredObject>,
    admitted: Admitted,
}

/// The create (`version` `None`) or update of a joined legacy object (v2beta1 ClusterPlan):
/// a v2beta2 plan, version [`legacy::MIGRATED_VERSION`], and the ComputeTemplate its node
/// pools became.
///
/// The model's [`legacy::migrate`] makes the objects; each is admitted in full as a direct
/// create or update of it would be, and all are committed in one write, or none (a dry run
/// admits all and writes nothing). A produced object of that name that exists and was not
/// produced from this legacy object ([`legacy::produced_by`]) is a `409` naming it, never
/// overwritten. The answer is the legacy object read back, with a warning per object
/// written. A body at the storage version is that one object, written as at its own path.
pub async fn joined_write(
    cx: Caller<'_>,
    t: &Target,
    old: &'static LegacyKind,
    body: &[u8],
    update: bool,
) -> Result<Written, ApiError> {
    let kind = t.kind;
    let version = update.then(|| joined_version(t));
    let verb = if update { Verb::Update } else { Verb::Create };
    authorize(cx.principal, verb, kind, None)?;
    crate::quota::check_object_size(kind, body.len())?;
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        // parse_body says what is wrong with it.
        Err(_) => {
            return Err(parse_body(kind, body)
                .err()
                .unwrap_or_else(|| ApiError::bad_request("the body is not JSON")));
        }
    };
    if value.get("apiVersion").and_then(Value::as_str) != Some(old.api_version().as_str()) {
        return if update {
            super::update(cx, t, body).await
        } else {
            super::create(cx, t, body).await
        };
    }
    let text = |p: &str| {
        value
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let name = text("/metadata/name");
    let migration = legacy::migrate(&value).map_err(|errors| refusal_of(kind, &name, &errors))?;
    let mut objects = migration.objects;
    for o in objects.iter_mut() {
        let k = o.kind_info();
        if k != kind {
            // A produced object may be created, or overwritten when it is this plan's.
            authorize(cx.principal, Verb::Create, k, None)?;
            authorize(cx.principal, Verb::Update, k, None)?;
        }
        place(k, None, o)?;
    }
    if let (Some(v), Some(url_name)) = (&version, &t.name) {
        let bad = |field: &str, want: &str, message: String| {
            Err::<(), _>(mismatch(
                kind,
                url_name,
                field,
                format!("must be {want:?}"),
                message,
            ))
        };
        if name != *url_name {
            bad(
                "metadata.name",
                url_name,
                format!(
                    "metadata.name {name:?} does not match the name in the URL {url_name:?}; objects cannot be renamed"
                ),
            )?;
        }
        if objects[0].version() != Some(v.as_str()) {
            bad(
                "apiVersion",
                v,
                format!(
                    "a {} is version {} of its name; version {v} is read and written at {}",
                    old.describe(),
                    legacy::MIGRATED_VERSION,
                    collection_path(kind)
                ),
            )?;
        }
    }
    let sent_rv = Some(text("/metadata/resourceVersion")).filter(|rv| !rv.is_empty());
    let dry_run = cx.dry_run;
    let fresh: Vec<(String, String)> = objects
        .iter()
        .map(|_| (new_uid(), crate::now_rfc3339()))
        .collect();
    let legacy_name = migration.name.clone();
    let decide = move |r: &dyn Reads| -> Result<Vec<JoinedWrite>, ApiError> {
        let mut out = Vec::new();
        for (i, object) in objects.iter().enumerate() {
            let k = object.kind_info();
            let n = object.metadata().name.clone();
            let v = object.version();
            let key = object_key(k, None, &n, v);
            let current = r.get(&key)?;
            let op = match (&current, i == 0) {
                (Some(_), true) if !update => return Err(already_exists(k, None, &n, v)),
                (None, true) if update => return Err(not_found(k, None, &n, v)),
                (Some(c), true) => {
                    if let Some(sent) = &sent_rv
                        && *sent != c.resource_version.to_string()
                    {
                        return Err(modified(k, &n, sent, c));
                    }
                    Operation::Update {
                        current: c.body.clone(),
                    }
                }
                (Some(c), false) => {
                    if !parse_stored(&c.body)
                        .is_some_and(|o| legacy::produced_by(&o, old, &legacy_name))
                    {
                        return Err(not_produced(k, &n, old, &legacy_name));
                    }
                    Operation::Update {
                        current: c.body.clone(),
                    }
                }
                (None, _) => Operation::Create,
            };
            let admitted = admission::admit(r, k, None, object, op, dry_run)?;
            out.push(JoinedWrite {
                key,
                object: object.clone(),
                current,
                admitted,
            });
        }
        Ok(out)
    };
    let build = move |w: &JoinedWrite, fresh: &(String, String)| match &w.current {
        Some(c) => updated_row(&w.object, c, &w.admitted),
        None => {
            let (uid, created) = fresh.clone();
            let body = super::finish(
                w.object.clone(),
                super::Finish {
                    generation: 1,
                    uid: &uid,
                    created: &created,
                    current: None,
                    strategy: None,
                },
                &w.admitted,
            );
            NewRow {
                body,
                generation: 1,
                uid,
                created,
            }
        }
    };
    let rows: Vec<NewRow> = cx
        .state
        .store
        .run(move |s| {
            // As for a create: decided on a snapshot (again when what it read changed
            // before the write could commit); every object in the one write.
            s.commit(dry_run, None, |r: &dyn Reads| {
                let decided = decide(r)?;
                let mut batch = Batch::default();
                let mut rows = Vec::new();
                for (w, f) in decided.iter().zip(&fresh) {
                    let row = build(w, f);
                    batch
                        .objects
                        .push((w.key.clone(), Mutation::Put(row.clone())));
                    rows.push(row);
                }
                Ok::<_, ApiError>((batch, rows))
            })
            .map(|(mut rows, committed)| {
                for (i, row) in rows.iter_mut().enumerate() {
                    set_resource_version(&mut row.body, &committed, i);
                }
                rows
            })
        })
        .await??;
    let bodies: Vec<Value> = rows.into_iter().map(|r| r.body).collect();
    let warnings = warnings(
        cx,
        t,
        old,
        if update { "updated" } else { "created" },
        &bodies,
    );
    // Read back as the legacy object, from what was written (not what is stored now).
    let object = shown_written(old, &bodies).unwrap_or_else(|| bodies[0].clone());
    Ok(Written {
        object,
        created: !update,
        warnings,
    })
}

/// `409`: a produced object's name is taken by one this legacy object did not produce.
fn not_produced(kind: &KindInfo, name: &str, old: &LegacyKind, legacy_name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "AlreadyExists",
        format!(
            "{kind_name}/{name} already exists and was not produced from {legacy_kind}/{legacy_name} ({api}): it has no annotation {ann}: {legacy_kind}/{legacy_name}, so it is not overwritten; rename or delete {kind_name}/{name}, or migrate the definition with `{cmd}` and give the {kind_name} another name",
            kind_name = kind.kind,
            legacy_kind = old.current.kind,
            api = old.api_version(),
            ann = legacy::PRODUCED_BY_ANNOTATION,
            cmd = legacy::MIGRATE_COMMAND,
        ),
    )
    .with_details(Details::object(kind, name))
}
