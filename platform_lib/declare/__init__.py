"""Declaring a product: the spec, its column types, the mesh's common identifiers, column
shorthands, purposes, product references, the checks every product carries, and the
contract snapshots of earlier major versions. Everything else is derived from these."""
