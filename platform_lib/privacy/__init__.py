"""Privacy by design: per-purpose consent, retention of every store, and right-to-erasure
fanned out across the mesh from its own declarations and lineage."""
