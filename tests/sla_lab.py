"""A small domain used by the SLA tests: one event source and row-level products over it,
declared and built through the same platform path as every real domain."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dagster import AssetKey, DagsterInstance, materialize

from platform_lib import Column, DataProduct, Owner, Source, data_product, staging_asset
from platform_lib.config import MeshPaths
from platform_lib.dagster.resources import domain_resources
from platform_lib.declare.columns import EXTRACTED_AT, OCCURRED_AT, key, text

OWNER = Owner(team="sla_lab", role="Lab Lead")
EVENTS = Source(
    domain="sla_lab", name="events", format="jsonl", description="Lab events.", primary_key=("event_id",),
    event_time="occurred_at",
    columns=(key("event_id", "Event id."), text("channel", "Channel."), OCCURRED_AT, EXTRACTED_AT),
)


def event_log(version: str = "1.0.0", rename: bool = False, **extra):
    """`sla_lab.event_log`; `rename` publishes `channel` as `source_channel` (a breaking change)."""
    channel = "source_channel" if rename else "channel"
    product = DataProduct(
        domain="sla_lab", name="event_log", version=version, description="Every lab event, as it arrived.",
        owner=OWNER, primary_key=("event_id",), inputs=("sla_lab.staging.events",), event_time="occurred_at",
        columns=(
            Column(name="event_id", type="string", description="Event id.", nullable=False),
            Column(name=channel, type="string", description="Channel."),
            Column(name="occurred_at", type="timestamp", description="When it happened."),
        ),
        **extra,
    )

    @data_product(product)
    def build(ctx):
        return f"SELECT event_id, channel AS {channel}, occurred_at FROM staging.events"

    return product, build


def land(root: Path, name: str, ages_minutes: list[float], now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)
    folder = root / "landing" / "sla_lab" / "events"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    with (folder / f"{name}.jsonl").open("w") as fh:
        for i, age in enumerate(ages_minutes):
            row = {"event_id": f"{name}-{i}", "channel": "web", "occurred_at": stamp(now - timedelta(minutes=age)),
                   "extracted_at": stamp(now)}
            fh.write(json.dumps(row) + "\n")


def build(root: Path, product_asset, instance: DagsterInstance | None = None, raise_on_error: bool = True):
    return materialize(
        [staging_asset(EVENTS), product_asset],
        resources=domain_resources("sla_lab", MeshPaths(root)),
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def check_result(result, name: str, product: str = "event_log"):
    """The named check's evaluation for `sla_lab.<product>` in a run's result."""
    [evaluation] = [
        e for e in result.get_asset_check_evaluations()
        if e.asset_key == AssetKey(["sla_lab", product]) and e.check_name == name
    ]
    return evaluation
