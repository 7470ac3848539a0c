"""Documentation currency: flag a product whose code changed more than N days after its
documentation last did, from git history (`git blame` for the lines of each part)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """Lines of a file; `None` means the whole file."""

    path: Path
    first: int | None = None
    last: int | None = None


@dataclass(frozen=True)
class DocsCurrency:
    status: str  # "current", "outdated" or "unknown"
    code_changed_at: float | None
    docs_changed_at: float | None
    max_age_days: float
    reason: str = ""

    @property
    def lag_days(self) -> float | None:
        if self.code_changed_at is None or self.docs_changed_at is None:
            return None
        return max(0.0, (self.code_changed_at - self.docs_changed_at) / 86400)

    @property
    def passed(self) -> bool:
        return self.status != "outdated"

    def metadata(self) -> dict:
        meta = {"status": self.status, "max_age_days": float(self.max_age_days)}
        if self.lag_days is not None:
            meta["docs_lag_days"] = round(self.lag_days, 3)
        if self.reason:
            meta["reason"] = self.reason
        return meta


def last_change(span: Span) -> float:
    """Newest commit time of the span's lines; uncommitted lines count as now."""
    args = ["git", "blame", "--line-porcelain"]
    if span.first is not None:
        args += ["-L", f"{span.first},{span.last}"]
    out = subprocess.run(
        [*args, "--", span.path.name], cwd=span.path.parent, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    times = [int(line.split()[1]) for line in out.splitlines() if line.startswith("committer-time ")]
    uncommitted = any(line.startswith("author Not Committed Yet") for line in out.splitlines())
    newest = max(times, default=0)
    return max(newest, time.time()) if uncommitted else float(newest)


def measure(code: list[Span], docs: list[Span], max_age_days: float) -> DocsCurrency:
    try:
        code_at = max(last_change(s) for s in code)
        docs_at = max(last_change(s) for s in docs)
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError, OSError) as err:
        return DocsCurrency("unknown", None, None, max_age_days, f"no git history for the product's files ({type(err).__name__})")
    outdated = code_at - docs_at > max_age_days * 86400
    return DocsCurrency("outdated" if outdated else "current", code_at, docs_at, max_age_days)


@dataclass(frozen=True)
class DocSources:
    """Where a product's code and its documentation live, for documentation currency."""

    code: tuple[Span, ...]
    docs: tuple[Span, ...]


def measure_sources(sources: DocSources | None, max_age_days: float) -> DocsCurrency:
    if sources is None:
        return DocsCurrency("unknown", None, None, max_age_days, "no source files known")
    return measure(list(sources.code), list(sources.docs), max_age_days)
