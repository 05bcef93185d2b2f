//! The price catalog admission estimates with: the model's built-in one, or the operator's
//! own (`--price-catalog FILE`, e.g. their negotiated prices), read and checked once at start.
//!
//! A cluster the catalog cannot price is admitted with its cost unknown and a warning, unless
//! a cost limit applies ([`wayfinder_model::check_unpriced`]); the warning travels as a
//! `Warning: 299 - "text"` response header ([`warning_headers`]), as Kubernetes sends them.

use std::path::Path;
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue};
use serde_json::Value;
use wayfinder_model::Catalog;

static OPERATOR: OnceLock<Catalog> = OnceLock::new();

/// A catalog file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PriceCatalogError {
    #[error("cannot read the price catalog {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the price catalog {path} is not valid: {source}")]
    Invalid {
        path: String,
        source: wayfinder_model::cost::CatalogError,
    },
    #[error("a price catalog is already in use; it is set once, at start")]
    AlreadySet,
}

/// Reads `path` and makes it the catalog admission uses, for the life of the process.
pub fn use_file(path: &Path) -> Result<&'static Catalog, PriceCatalogError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| PriceCatalogError::Read {
        path: shown.clone(),
        source,
    })?;
    let catalog = Catalog::from_json(&text).map_err(|source| PriceCatalogError::Invalid {
        path: shown,
        source,
    })?;
    OPERATOR
        .set(catalog)
        .map_err(|_| PriceCatalogError::AlreadySet)?;
    Ok(catalog_in_use())
}

/// The operator's catalog when one was given, else the built-in one.
pub fn catalog_in_use() -> &'static Catalog {
    OPERATOR.get().unwrap_or_else(Catalog::builtin)
}

/// `Warning: 299 - "text"` headers, one per text (a write's warnings:
/// an admitted object's unknown estimate, what a joined legacy write wrote).
pub fn warning_headers(texts: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for v in texts.iter().filter_map(|t| warning(t)) {
        headers.append("warning", v);
    }
    headers
}

/// An admitted object's `status.estimate.warning`: why its cost is left unknown.
pub fn estimate_warning(object: &Value) -> Option<&str> {
    object
        .pointer("/status/estimate/warning")
        .and_then(Value::as_str)
}

/// One `Warning` header value, `299 - "text"`, as Kubernetes sends them: a quoted-string of
/// visible ASCII, quotes and backslashes escaped, anything else outside printable ASCII
/// replaced.
pub fn warning(text: &str) -> Option<HeaderValue> {
    let mut quoted = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            ' '..='~' => quoted.push(c),
            _ => quoted.push('?'),
        }
    }
    HeaderValue::from_str(&format!("299 - \"{quoted}\"")).ok()
}
