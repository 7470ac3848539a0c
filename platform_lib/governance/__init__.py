"""Federated computational governance: global policies as code, one identity, grants,
masking and a tamper-evident audit log, applied identically to every domain."""
