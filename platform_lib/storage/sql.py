"""Quoting for SQL built from declarations: every identifier and literal the platform
puts into DuckDB SQL goes through these two."""

from __future__ import annotations


def q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
