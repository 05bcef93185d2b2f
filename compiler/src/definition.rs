//! What goes into the compiler and what comes out: an input file ([`Source`]), one object
//! read from it ([`Definition`]), and the generated files ([`Module`]). Kept apart from
//! [`compile`](mod@crate::compile) so the parts that read definitions (the catalog, the
//! cluster modules) need not depend on the compile pipeline that calls them.

use std::collections::BTreeMap;

use wayfinder_model::SpanIndex;

use crate::diagnostic::Diagnostic;

/// One input file's text and the name it is reported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path as the user spelled it; used in diagnostics.
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Decodes a file's bytes; invalid UTF-8 is reported with the line and column of the
    /// first bad byte. A leading byte-order mark is dropped.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Result<Self, Box<Diagnostic>> {
        let name = name.into();
        match String::from_utf8(bytes) {
            Ok(text) => {
                let text = match text.strip_prefix('\u{feff}') {
                    Some(rest) => rest.to_string(),
                    None => text,
                };
                Ok(Self { name, text })
            }
            Err(e) => {
                let bytes = e.as_bytes();
                let good = &bytes[..e.utf8_error().valid_up_to()];
                let line = good.iter().filter(|b| **b == b'\n').count() + 1;
                let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                // Valid up to here, so this slice is UTF-8; count characters for the column.
                let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
                Err(Box::new(
                    Diagnostic::file(
                    name,
                    format!(
                        "not valid UTF-8 (byte 0x{:02X} at offset {}); definitions must be UTF-8 text",
                        bytes[good.len()],
                        good.len()
                    ),
                )
                .at(line, column),
                ))
            }
        }
    }
}

/// One object read from the inputs, with where it came from.
#[derive(Debug, Clone)]
pub struct Definition {
    pub file: String,
    /// Zero-based index of the document in its file.
    pub document: usize,
    pub object: wayfinder_model::Object,
    /// Where its fields are in the file.
    pub spans: SpanIndex,
}

/// The generated files: paths relative to the output directory (`/`-separated, e.g.
/// `catalog/main.tf`, `clusters/eks-general-purpose/variables.tf`) and their contents, in
/// sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Module {
    files: BTreeMap<String, String>,
}

impl Module {
    pub fn insert(&mut self, path: impl Into<String>, contents: String) {
        self.files.insert(path.into(), contents);
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// `(relative path, contents)`, sorted by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(p, c)| (p.as_str(), c.as_str()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
