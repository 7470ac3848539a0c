"""Write the whole landing zone and its manifest: injected defects and entity updates."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from platform_lib.ops.seed import systems
from platform_lib.ops.seed.changes import CHANGES
from platform_lib.ops.seed.emit import Batches, emit_entity, emit_events
from platform_lib.ops.seed.scales import BATCH_DAYS, CHANGE_EXPORTS, SCALES, WINDOW_DAYS
from platform_lib.ops.seed.universe import build_universe

# Event sources whose exports carry injected defects; the rest are clean.
DEFECTIVE = {"email_events", "web_sessions", "page_views", "form_fills", "content_downloads", "events", "activities", "tickets"}
DOMAINS = (systems.marketing, systems.product, systems.sales, systems.customer_success)


def default_as_of() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def generate(root: Path, scale: str = "small", seed: int = 7, as_of: datetime | None = None) -> dict:
    """Write `<root>/landing/...` and return the manifest. Same arguments, same bytes."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale '{scale}'; choose one of {sorted(SCALES)}")
    as_of = (as_of or default_as_of()).astimezone(timezone.utc)
    end = int(as_of.timestamp())
    count = -(-WINDOW_DAYS // BATCH_DAYS)
    batches = Batches(start=end - count * BATCH_DAYS * 86400, width=BATCH_DAYS * 86400, count=count)
    landing = Path(root) / "landing"
    universe = build_universe(np.random.default_rng([seed, 0]), SCALES[scale].accounts)
    sources: dict[str, dict] = {}
    full_export = batches.extracted_at(batches.count - 1 - CHANGE_EXPORTS)
    for number, system in enumerate(DOMAINS, start=1):
        rng = np.random.default_rng([seed, number])
        snapshots, events = system(universe, rng, SCALES[scale], batches, full_export)
        for i, table in enumerate(snapshots):
            name = f"{table.domain}/{table.name}"
            # Its own generator: how entities change leaves the event exports' draws alone.
            changes = np.random.default_rng([seed, number, 1 + i])
            sources[name] = emit_entity(table, landing, batches, CHANGE_EXPORTS, CHANGES.get(name, ()), changes)
        for table in events:
            sources[f"{table.domain}/{table.name}"] = emit_events(table, landing, batches, rng, table.name in DEFECTIVE)
    manifest = {
        "generator": "platform_lib.ops.seed",
        "seed": seed,
        "scale": scale,
        "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sources": sources,
        "universe": {
            "accounts": int(len(universe.account)),
            "contacts": int(len(universe.contact)),
            "users": int(len(universe.user)),
            "customers": int(universe.customer.sum()),
        },
    }
    (landing / "_manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
