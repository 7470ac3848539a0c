"""The one declaration of a data product (and of the raw sources a domain stages).

Everything else — the Dagster asset and its metadata, the Pandera schema, the audit
rules, the output port, later the contract export and catalog entry — is derived from
these objects. dbt products build the same `DataProduct` from their model YAML.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from platform_lib.declare.purposes import CONSENT_PRODUCT, PERSON_COLUMNS, PURPOSES
from platform_lib.declare.types import LogicalType

# The column a source system stamps every exported record with (declare/columns.py).
EXTRACTED = "extracted_at"

NAME = re.compile(r"[a-z][a-z0-9_]*")  # whole names only: fullmatch, so no trailing newline slips through
# The columns an entity source's history adds to each version: when it became and stopped being current.
VALID_FROM, VALID_TO = "valid_from", "valid_to"
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")

Classification = Literal["public", "internal", "pii"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Owner(_Frozen):
    """Who answers for a product: the owning team and a named role in it."""

    team: str
    role: str

    @property
    def dagster_owner(self) -> str:
        return f"team:{self.team}"


# PII kinds that stay joinable when masked (a pseudonym), unless a column says otherwise.
HASHED_CATEGORIES = frozenset({"email", "phone", "ip", "identifier"})


class Column(_Frozen):
    name: str
    type: LogicalType
    description: str = ""
    classification: Classification = "internal"
    pii_category: str | None = None
    # How the governed read path hides a pii column from consumers without PII access.
    masking: Literal["hash", "redact"] | None = None
    # For a column derived from PII that identifies no one any more (a count of contacts, a
    # keyed pseudonym): how it removes identity, reviewed with the declaration.
    deidentified: str | None = None
    nullable: bool = True
    accepted_values: tuple[str, ...] | None = None
    # `source.column` inside the same domain's staging area, e.g. "contacts.contact_id".
    references: str | None = None
    pattern: str | None = None

    @field_validator("name")
    @classmethod
    def _snake_case(cls, v: str) -> str:
        if not NAME.fullmatch(v):
            raise ValueError(f"column name '{v}' must be snake_case")
        if v == "rowid":
            raise ValueError("column name 'rowid' is DuckDB's own row id, by which the platform finds stored rows: "
                             "name the column after what it holds")
        return v


class Rule(_Frozen):
    """A row-level quality rule: rows where `valid_when` is false are quarantined."""

    name: str
    valid_when: str
    description: str


class SLA(_Frozen):
    """Service-level targets; these defaults are the seed every product starts from."""

    freshness_minutes: float = 15
    availability: float = 0.995
    breaking_change_notice_days: int = 30
    quality_min: float = 0.95
    docs_max_age_days: int = 7


class Domain(_Frozen):
    """A domain declares itself once: its team, owner and default consumers."""

    name: str
    description: str
    owner: Owner
    consumers: tuple[str, ...] = ()


class _Declared(_Frozen):
    domain: str
    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    rules: tuple[Rule, ...] = ()
    retention_days: int = 730

    @field_validator("name", "domain")
    @classmethod
    def _snake(cls, v: str) -> str:
        if not NAME.fullmatch(v):
            raise ValueError(f"'{v}' must be snake_case")
        return v

    @model_validator(mode="after")
    def _keys_are_columns(self):
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.id}: duplicate column names in {names}")
        missing = [k for k in self.primary_key if k not in names]
        if missing:
            raise ValueError(f"{self.id}: primary key {missing} is not among the columns")
        return self

    @property
    def id(self) -> str:
        return f"{self.domain}.{self.name}"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def required(self, column: Column) -> bool:
        """Whether every row must hold a value: a key column, or one declared not nullable."""
        return not column.nullable or column.name in self.primary_key


class Source(_Declared):
    """A raw source-system export the domain lands and stages in its own DuckDB file."""

    format: Literal["csv", "jsonl", "parquet"]
    event_time: str
    retention_days: int = 400
    # How its records evolve. "events" are append-only: a key seen again with other values
    # is a conflict, quarantined. "entity" records are keyed state (accounts, deals...): the
    # version with the latest event_time, then extracted_at, is current (`staging.<name>`);
    # every version stays as history with valid_from / valid_to (`staging.<name>_history`).
    evolves: Literal["events", "entity"] = "events"

    @model_validator(mode="after")
    def _references_name_another_source(self):
        own = [c.name for c in self.columns if c.references and c.references.split(".")[0] == self.name]
        if own:
            raise ValueError(f"{self.id}: {own[0]} references {self.name} itself; a record pointing at another record "
                             "of its own source (a parent account) cannot be checked while that source is staged: "
                             "declare the column without `references`")
        return self

    @model_validator(mode="after")
    def _entity_has_versions(self):
        if self.evolves == "entity":
            if not self.primary_key:
                raise ValueError(f"{self.id}: an entity source needs a primary key (what identifies the record)")
            if self.event_time in self.primary_key:
                raise ValueError(f"{self.id}: an entity's event_time '{self.event_time}' orders its versions; "
                                 "it cannot be part of the primary key")
            if self.column(self.event_time).type != "timestamp":
                raise ValueError(f"{self.id}: event_time '{self.event_time}' must name a timestamp column")
            if taken := [c.name for c in self.columns if c.name in (VALID_FROM, VALID_TO)]:
                raise ValueError(f"{self.id}: column '{taken[0]}' is one the entity's history adds to each version "
                                 f"({VALID_FROM}, {VALID_TO}): rename it")
        return self

    @property
    def version_order(self) -> tuple[str, ...]:
        """What orders an entity's versions: when it changed, then when it was exported."""
        names = {c.name for c in self.columns}
        return tuple(c for c in (self.event_time, EXTRACTED) if c in names)

    @property
    def history_table(self) -> str:
        return f"staging.{self.name}_history"

    @property
    def key_path(self) -> list[str]:
        return [self.domain, "staging", self.name]

    @property
    def table(self) -> str:
        return f"staging.{self.name}"


class UpdatedBy(_Frozen):
    """How a product is recomputed for what changed instead of whole: the key its rows are
    computed per, and for each staged source it reads, the SQL that maps that source's
    changed records (its change log: key, identifiers and event time, before and after)
    to those keys. With `window_days`, the key's last part is a day and a change on day d
    reaches the rows of days d to d + window_days (trailing windows)."""

    keys: tuple[str, ...]
    changes: dict[str, str]
    window_days: int = Field(default=0, ge=0)


class DataProduct(_Declared):
    """A published data product: the contract consumers rely on."""

    version: str
    owner: Owner
    consumers: tuple[str, ...] = ()
    sla: SLA = Field(default_factory=SLA)
    tier: Literal["bronze", "silver", "gold"] = "gold"
    # Asset keys this product reads, as dotted paths: "marketing.staging.email_events"
    # (own staging) or "product.product_health_scores" (another domain's output port).
    inputs: tuple[str, ...] = ()
    # The timestamp column freshness is measured on: when the row's newest event happened.
    event_time: str
    kind: Literal["python", "dbt"] = "python"
    # Older major versions still published beside this one, until their sunset date, and
    # optionally the SQL (over `{batch}`, this version's audited batch) that shapes them.
    deprecations: dict[int, date] = Field(default_factory=dict)
    compatibility: dict[int, str] = Field(default_factory=dict)
    retention_days: int | None = None  # a global policy requires every product to declare it
    # What contact-level personal data in it is used for (see privacy/purposes.py); a
    # consent-based purpose keeps only contacts who consented to it.
    purpose: str | None = None
    # Recomputed for the keys a batch changed (None: recomputed whole when an input changed).
    updated_by: UpdatedBy | None = None

    @model_validator(mode="before")
    @classmethod
    def _consent_is_an_input(cls, data):
        """A consent-based purpose reads the consent record like any other input."""
        if isinstance(data, dict) and PURPOSES.get(data.get("purpose") or "") and \
                f"{data.get('domain')}.{data.get('name')}" != CONSENT_PRODUCT:
            inputs = tuple(data.get("inputs") or ())
            if CONSENT_PRODUCT not in inputs:
                data = {**data, "inputs": (*inputs, CONSENT_PRODUCT)}
        return data

    @field_validator("purpose")
    @classmethod
    def _known_purpose(cls, v: str | None) -> str | None:
        if v is not None and v not in PURPOSES:
            raise ValueError(f"purpose '{v}' is not one of {', '.join(PURPOSES)}")
        return v

    @property
    def consent_flag(self) -> str | None:
        return PURPOSES.get(self.purpose or "")

    @property
    def pii_masks(self) -> dict[str, str]:
        """Each PII column and how readers without PII access see it: a keyed pseudonym
        ('hash', where a value must still join) or redacted."""
        return {c.name: c.masking or ("hash" if c.pii_category in HASHED_CATEGORIES else "redact")
                for c in self.columns if c.classification == "pii"}

    @property
    def personal_columns(self) -> list[str]:
        """Columns that make this contact-level personal data."""
        return [c.name for c in self.columns if c.name in PERSON_COLUMNS or c.classification == "pii"]

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not SEMVER.fullmatch(v):
            raise ValueError(f"version '{v}' is not semantic (MAJOR.MINOR.PATCH)")
        return v

    @model_validator(mode="after")
    def _event_time_is_a_timestamp(self):
        col = next((c for c in self.columns if c.name == self.event_time), None)
        if col is None or col.type != "timestamp":
            raise ValueError(f"{self.id}: event_time '{self.event_time}' must name a timestamp column")
        return self

    @model_validator(mode="after")
    def _updated_by_keys_are_columns(self):
        if self.updated_by is None:
            return self
        names = {c.name for c in self.columns}
        missing = [k for k in self.updated_by.keys if k not in names]
        staged = {i.split(".")[-1] for i in self.inputs if len(i.split(".")) == 3}
        unknown = [s for s in self.updated_by.changes if s not in staged]
        if missing or unknown:
            raise ValueError(f"{self.id}: updated_by keys {missing} are not columns, or sources {unknown} are not "
                             f"staged inputs ({sorted(staged)})")
        if self.updated_by.window_days and self.column(self.updated_by.keys[-1]).type != "date":
            raise ValueError(f"{self.id}: updated_by.window_days needs a date as the key's last part")
        # Publishing replaces the port's rows of the recomputed keys: a row's key must say which.
        if not set(self.updated_by.keys) <= set(self.primary_key):
            raise ValueError(f"{self.id}: updated_by keys {list(self.updated_by.keys)} must be part of the primary key "
                             f"{list(self.primary_key)}, so the rows of a recomputed key are the rows its publish replaces")
        return self

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def key_path(self) -> list[str]:
        return [self.domain, self.name]

    @property
    def build_table(self) -> str:
        """Where the build step leaves the candidate batch, in the domain's DuckDB."""
        return f"build.{self.name}" if self.kind == "python" else f"main.{self.name}"

    @property
    def product_inputs(self) -> tuple[str, ...]:
        """Inputs that are data products (`domain.product[@vN]`), own domain's included:
        they are always read from their output ports, never from build tables."""
        return tuple(i for i in self.inputs if len(i.split("@")[0].split(".")) == 2)

    @property
    def classification(self) -> str:
        levels = [c.classification for c in self.columns]
        return next((lv for lv in ("pii", "internal") if lv in levels), "public")
