"""Synthetic source systems: a deterministic landing zone for all four domains.

`generate(root, scale, seed, as_of)` writes what each domain's source systems would
export (CSV, JSON Lines, Parquet) for one shared account universe, with defects injected
at known rates and listed in `landing/_manifest.json`.
"""

from platform_lib.ops.seed.generate import SCALES, generate

__all__ = ["SCALES", "generate"]
