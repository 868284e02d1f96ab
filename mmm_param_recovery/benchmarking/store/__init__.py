"""Results on disk: run folders keyed by spec, the one atomic-write helper, no pickle."""
