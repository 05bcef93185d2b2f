//! Field paths and the error types every layer reports.

use std::fmt;

/// One step of a field path: a field name as it is spelled in YAML, or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A field, spelled as in YAML (`nodePools`).
    Field(String),
    /// A position in a list, from zero.
    Index(usize),
}

/// A path into an object, displayed the way Wayfinder and Kubernetes print it:
/// `spec.nodePools[1].autoscaling.maxSize`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<PathSegment>);

impl FieldPath {
    /// The empty path: the object itself.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path with a field appended.
    pub fn field(&self, name: &str) -> Self {
        let mut p = self.clone();
        p.0.push(PathSegment::Field(name.to_string()));
        p
    }

    /// This path with a list index appended.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(PathSegment::Index(i));
        p
    }

    /// The steps of the path, outermost first.
    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    /// Whether this is the root path.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses the display form back (`spec.nodePools[1].machine`). Returns `None` for text
    /// that is not a field path.
    pub fn parse(text: &str) -> Option<Self> {
        let mut segs = Vec::new();
        if text.is_empty() {
            return Some(Self(segs));
        }
        for part in text.split('.') {
            let (name, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                segs.push(PathSegment::Field(name.to_string()));
            } else if rest.is_empty() {
                return None;
            }
            while !rest.is_empty() {
                let close = rest.find(']')?;
                if !rest.starts_with('[') {
                    return None;
                }
                segs.push(PathSegment::Index(rest[1..close].parse().ok()?));
                rest = &rest[close + 1..];
            }
        }
        Some(Self(segs))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSegment::Field(name) if i == 0 => write!(f, "{name}")?,
                PathSegment::Field(name) => write!(f, ".{name}")?,
                PathSegment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Reads a [`FieldPath`] from its display form (`spec.nodePools[0].machine`), for
/// `#[serde(deserialize_with)]` on a path field.
pub(crate) fn deserialize_path<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<FieldPath, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    FieldPath::parse(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a field path")))
}

/// Writes a [`FieldPath`] in its display form, for `#[serde(serialize_with)]`.
pub(crate) fn serialize_path<S: serde::Serializer>(p: &FieldPath, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

/// Why a field was refused; the names follow Kubernetes' `StatusCause` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A required field is missing or empty.
    Required,
    /// The value is of the right type but not acceptable.
    Invalid,
    /// The value is not one of an enumerated set.
    NotSupported,
    /// The value repeats one that must be unique.
    Duplicate,
    /// The field is not allowed here.
    Forbidden,
    /// The field names another object that does not exist (yet): a stage, a plan version, a
    /// network plan, a compute template, a package, a cloud access. A configuration that
    /// creates that object in the same run can still succeed, so previews warn rather than
    /// refuse.
    NotFound,
}

impl Reason {
    /// The reason as Kubernetes spells it in `details.causes[].reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Required => "FieldValueRequired",
            Reason::Invalid => "FieldValueInvalid",
            Reason::NotSupported => "FieldValueNotSupported",
            Reason::Duplicate => "FieldValueDuplicate",
            Reason::Forbidden => "FieldValueForbidden",
            Reason::NotFound => "FieldValueNotFound",
        }
    }
}

/// One validation problem: where, why, and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where the problem is.
    pub path: FieldPath,
    /// The kind of problem, as Kubernetes names it (`FieldValueInvalid`, …).
    pub reason: Reason,
    /// What is wrong and what would be accepted.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in one object, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors {
    /// `Kind/name` of the object, for messages.
    pub object: String,
    /// The problems, in document order.
    pub errors: Vec<FieldError>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{} is invalid ({n} problem{}):",
            self.object,
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// A document that could not be read as a Wayfinder object: bad syntax, a wrong type, an
/// unknown field or an unsupported kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// The file (or `<request body>`) the document came from.
    pub source_name: String,
    /// Zero-based index of the document within a multi-document stream.
    pub document: usize,
    /// One-based line and column (in characters): of a syntax error, or of the field at
    /// `path` — its key, or its value for a wrong type or value; the nearest enclosing field
    /// for a missing one. `None` when the source text is not at hand (`object_from_value`)
    /// or could not be indexed.
    pub location: Option<(usize, usize)>,
    /// `Kind/name` when the document got far enough to say.
    pub object: Option<String>,
    /// The field the error is about; the root when it is not about one field.
    pub path: FieldPath,
    /// What went wrong and what would be accepted.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source_name)?;
        match self.location {
            Some((line, col)) => write!(f, ":{line}:{col}")?,
            None if self.document > 0 => write!(f, " (document {})", self.document + 1)?,
            None => {}
        }
        write!(f, ": ")?;
        if let Some(obj) = &self.object {
            write!(f, "{obj}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_display_and_parse_round_trip() {
        let p = FieldPath::root()
            .field("spec")
            .field("nodePools")
            .index(1)
            .field("autoscaling")
            .field("maxSize");
        assert_eq!(p.to_string(), "spec.nodePools[1].autoscaling.maxSize");
        assert_eq!(FieldPath::parse(&p.to_string()), Some(p));
        assert_eq!(
            FieldPath::parse("a[0][2].b").unwrap().to_string(),
            "a[0][2].b"
        );
        assert_eq!(FieldPath::parse("a[x]"), None);
        assert_eq!(FieldPath::parse("a..b"), None);
    }
}
