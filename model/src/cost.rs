//! Cost estimation: the price catalog and monthly estimates per node pool and cluster.
