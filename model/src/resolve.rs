//! Resolving a Cluster's references against a read-only view of the store.
