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
# value would be. The pattern is the same in DuckDB (RE2) and in Python.
#
# A search for one subject looks only for the shapes its own identifiers have
# (`shapes_of`): a contact's search hashes no account or user token, and a text without
# the literal every token of those shapes holds ("CON-", "@") is passed over unread.

_IDS = (ACCOUNT_ID.name, CONTACT_ID.name, USER_ID.name)
TOKEN_SHAPES: dict[str, str] = {
    **{name: rf"\b{FORMATS[name].pattern.strip('^$')}\b" for name in _IDS},
    "email": r"[^@\s'\"\\;,:<>()\[\]{}|=/]{1,128}@[A-Za-z0-9.-]{1,253}",
}
# SQL over a text: false when it cannot hold a token of the shape (tried before the pattern):
# an identifier's literal prefix (`ACC-` of `^ACC-\d{6}$`), an e-mail's `@`.
_SHAPE_HINT = {**{name: f"contains(lower({{}}), '{FORMATS[name].pattern.lstrip('^').split(chr(92))[0].lower()}')" for name in _IDS},
               "email": "contains({}, '@')"}


def _token_pattern(shapes) -> str:
    return "(?i)" + "|".join(TOKEN_SHAPES[s] for s in TOKEN_SHAPES if s in shapes)


TEXT_TOKEN = _token_pattern(TOKEN_SHAPES)
_TEXT_TOKEN = re.compile(TEXT_TOKEN)
_WHOLE = {s: re.compile(pattern, re.IGNORECASE) for s, pattern in TOKEN_SHAPES.items()}


def shapes_of(value: str) -> set[str]:
    """The token shapes under which a text search can find `value` (none: it never appears
    as a token, and only a search by column finds it). A token is cut of its trailing dots."""
    value = normalize(value).lower()
    return {s for s, whole in _WHOLE.items() if whole.fullmatch(value) or whole.fullmatch(value + ".")}


def text_digests(salt_hex: str, text: str, shapes=None) -> set[str]:
    """The digest of every identifier-shaped token in `text` (Python side of `sql_text_match`),
    of the given `shapes` only (default: all)."""
    if shapes is not None and not shapes:
        return set()
    pattern = _TEXT_TOKEN if shapes is None else re.compile(_token_pattern(shapes))
    return {digest(salt_hex, token.rstrip(".")) for token in pattern.findall(text)}


def sql_text_match(salt_hex: str, expr: str, hashes_table: str, shapes=None) -> str:
    """SQL true when `expr` (text) holds an identifier whose digest is in `hashes_table.h`,
    among tokens of the given `shapes` (default: all)."""
    shapes = TOKEN_SHAPES if shapes is None else shapes
    if not shapes:
        return "false"
    text = f"CAST({expr} AS VARCHAR)"
    pattern = _token_pattern(shapes).replace("'", "''")
    tokens = f"regexp_extract_all({text}, '{pattern}')"
    found = (f"coalesce(list_has_any(list_transform({tokens}, lambda t: sha256('{salt_hex}' || lower(trim(rtrim(t, '.'))))), "
             f"(SELECT list(h) FROM {hashes_table})), false)")
    if len(shapes) == len(TOKEN_SHAPES):
        return found
    hints = " OR ".join(_SHAPE_HINT[s].format(text) for s in TOKEN_SHAPES if s in shapes)
    return f"(coalesce({hints}, false) AND {found})"
