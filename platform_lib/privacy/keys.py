"""How a person or company is recognised in any store, without keeping who they are.

A subject's identifiers are only ever stored as `sha256(salt || normalized value)`, with
one secret salt per mesh root. Stores are matched by hashing their identifier columns in
the engine, so the platform never needs the raw identifier after the request arrives.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from platform_lib.config import MeshPaths
from platform_lib.declare.identifiers import ACCOUNT_ID, CONTACT_ID, FORMATS, USER_ID
from platform_lib.declare.names import brief
from platform_lib.storage.sql import lit

SUBJECT_KINDS = {"account": ACCOUNT_ID.name, "contact": CONTACT_ID.name, "user": USER_ID.name, "email": "email"}


class BadSubject(ValueError):
    pass


@dataclass(frozen=True)
class Subject:
    kind: str  # a value of SUBJECT_KINDS
    value: str

    @classmethod
    def parse(cls, text: str) -> "Subject":
        kind, _, value = text.partition(":")
        if kind not in SUBJECT_KINDS or not value:
            raise BadSubject(f"subject '{brief(text, 40)}' must be one of {', '.join(k + ':VALUE' for k in SUBJECT_KINDS)}")
        value = normalize(value)
        if not FORMATS[SUBJECT_KINDS[kind]].match(value if kind == "email" else value.upper()):
            raise BadSubject(f"'{brief(value, 40)}' is not a valid {kind} identifier")
        return cls(kind, value if kind == "email" else value.upper())

    @property
    def key_kind(self) -> str:
        return SUBJECT_KINDS[self.kind]


def normalize(value: str) -> str:
    return value.strip().lower() if "@" in value else value.strip()


def salt(paths: MeshPaths) -> str:
    """The mesh root's secret salt, created on first use and readable by its owner only."""
    path = privacy_dir(paths) / "salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def privacy_dir(paths: MeshPaths) -> Path:
    return paths.home / "privacy"


def digest(salt_hex: str, value: str) -> str:
    return hashlib.sha256((salt_hex + normalize(value).lower()).encode()).hexdigest()


def sql_digest(salt_hex: str, expr: str) -> str:
    """The same digest computed by DuckDB over a column or JSON expression."""
    return f"sha256('{salt_hex}' || lower(trim(CAST({expr} AS VARCHAR))))"


# ---- identifiers inside free text ------------------------------------------------------
#
# What the platform keeps but cannot parse by column (quarantined records, unparsed lines,
# drifted or unreadable landed files) is searched by content: every token shaped like an
# identifier (the common identifiers' formats, and e-mail addresses) is hashed as a column
# value would be. The pattern is the same in DuckDB (RE2) and in Python (so whitespace is
# spelled out: Python's `\s` holds more than RE2's).
#
# A search for one subject first asks each text for a literal its identifiers hold
# (`literal_of`: "con-" for a contact id, "@" for an e-mail): a token that normalizes to an
# identifier holds that identifier's literal once lowercased, so a text holding none of
# them holds none of the subject's identifiers, and no token of it is hashed.

TEXT_TOKEN = (
    "(?i)" + "|".join(rf"\b{FORMATS[name].pattern.strip('^$')}\b" for name in (ACCOUNT_ID.name, CONTACT_ID.name, USER_ID.name))
    + r"|[^@\t\n\f\r '\"\\;,:<>()\[\]{}|=/]{1,128}@[A-Za-z0-9.-]{1,253}"
)
_TEXT_TOKEN = re.compile(TEXT_TOKEN)
# The e-mail's `@`, then each identifier format's literal prefix (`acc-` of `^ACC-\d{6}$`).
TEXT_LITERALS = ("@", *(FORMATS[name].pattern.lstrip("^").split("\\")[0].lower()
                        for name in (ACCOUNT_ID.name, CONTACT_ID.name, USER_ID.name)))


def literal_of(value: str) -> str | None:
    """A literal of `TEXT_LITERALS` the identifier holds once normalized, or None."""
    value = normalize(value).lower()
    return next((literal for literal in TEXT_LITERALS if literal in value), None)


def text_digests(salt_hex: str, text: str, literals=None) -> set[str]:
    """The digest of every identifier-shaped token in `text` (Python side of `sql_text_match`);
    none when `literals` are given and the text holds none of them."""
    if literals and not any(literal in text.lower() for literal in literals):
        return set()
    return {digest(salt_hex, token.rstrip(".")) for token in _TEXT_TOKEN.findall(text)}


def sql_text_match(salt_hex: str, expr: str, hashes_table: str, literals=None) -> str:
    """SQL true when `expr` (text) holds an identifier whose digest is in `hashes_table.h`;
    with `literals` (every identifier in the table holds one), a text holding none of them
    is passed over before any token is extracted."""
    text = f"CAST({expr} AS VARCHAR)"
    pattern = TEXT_TOKEN.replace("'", "''")
    tokens = f"regexp_extract_all({text}, '{pattern}')"
    found = (f"coalesce(list_has_any(list_transform({tokens}, lambda t: sha256('{salt_hex}' || lower(trim(rtrim(t, '.'))))), "
             f"(SELECT list(h) FROM {hashes_table})), false)")
    if not literals:
        return found
    held = " OR ".join(f"contains({text}, '@')" if literal == "@" else f"contains(lower({text}), {lit(literal)})"
                       for literal in sorted(literals))
    return f"(coalesce({held}, false) AND {found})"
