//! Source locations of fields in YAML and JSON documents.
