//! [`StoreView`]: the store as the model's [`ObjectView`], for admission and the
//! reconciler.

use std::cell::RefCell;
use std::sync::Arc;

use wayfinder_model::kinds::{KindInfo, Scope};
use wayfinder_model::{Object, ObjectView};

use crate::keys::object_key;
use crate::status::ApiError;
use crate::store::{ListFilter, Reads, StoreError};

/// A read-only [`ObjectView`] of the store for the model's resolver. A store failure is
/// remembered and turned into a `500` by [`StoreView::finish`] rather than read as "missing".
pub struct StoreView<'a> {
    store: &'a dyn Reads,
    error: RefCell<Option<StoreError>>,
}

impl<'a> StoreView<'a> {
    pub fn new(store: &'a dyn Reads) -> Self {
        Self {
            store,
            error: RefCell::new(None),
        }
    }

    /// `Err` if any read failed.
    pub fn finish(&self) -> Result<(), ApiError> {
        match self.take_error() {
            Some(e) => Err(ApiError::from(e)),
            None => Ok(()),
        }
    }

    /// The first read that failed, if one did.
    pub fn take_error(&self) -> Option<StoreError> {
        self.error.borrow_mut().take()
    }

    fn remember<T: Default>(&self, r: Result<T, StoreError>) -> T {
        r.unwrap_or_else(|e| {
            self.error.borrow_mut().get_or_insert(e);
            T::default()
        })
    }
}

impl ObjectView for StoreView<'_> {
    fn get_exact(
        &self,
        kind: &KindInfo,
        workspace: Option<&str>,
        name: &str,
        version: Option<&str>,
    ) -> Option<Arc<Object>> {
        let key = object_key(kind, workspace, name, version);
        self.remember(self.store.get_parsed(&key))
    }

    fn list(&self, kind: &KindInfo, workspace: Option<&str>) -> Vec<Arc<Object>> {
        let namespace = match (kind.scope, workspace) {
            (Scope::Platform, _) => "",
            (Scope::Workspace, Some(ws)) => ws,
            (Scope::Workspace, None) => return Vec::new(),
        };
        self.remember(self.store.list_parsed(&ListFilter::kind(kind, namespace)))
    }
}
