"""Synthetic source systems: a deterministic landing zone for all four domains.

`generate(root, scale, seed, as_of)` writes what each domain's source systems would
export (CSV, JSON Lines, Parquet) for one shared account universe, with defects injected
in event sources and entity updates made at known rates, both counted exactly in
`landing/_manifest.json`. `increment.py` lands one more batch into an existing zone.
"""

from platform_lib.ops.seed.generate import SCALES, generate

__all__ = ["SCALES", "generate"]
