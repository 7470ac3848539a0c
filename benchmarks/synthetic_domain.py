"""A synthetic domain of N declared Python products over one source, generated into a
temporary package, to measure how definition load time grows with the number of products."""

from __future__ import annotations

from pathlib import Path

MODULE = '''
from platform_lib import DataProduct, Domain, Owner, Source, data_product, domain_definitions
from platform_lib.declare.columns import EXTRACTED_AT, OCCURRED_AT, double, text
from platform_lib.declare.identifiers import ACCOUNT_ID, identifier

DOMAIN = Domain(name="{name}", description="A synthetic domain for load-time benchmarks.",
                owner=Owner(team="{name}", role="Benchmark Owner"))
EVENTS = Source(domain="{name}", name="events", format="csv", event_time="occurred_at",
                description="Synthetic events, one per account and day.", primary_key=("event_id",),
                columns=(text("event_id", "Event id."), identifier(ACCOUNT_ID), double("amount", "Amount in USD."),
                         OCCURRED_AT, EXTRACTED_AT))


def product(i):
    declared = DataProduct(
        domain="{name}", name=f"metric_{{i:04d}}", version="1.0.0", retention_days=365,
        description=f"Synthetic metric {{i}}: the amount per account over every event, for load-time benchmarks.",
        owner=DOMAIN.owner, primary_key=("account_id",), inputs=("{name}.staging.events",), event_time="as_of",
        columns=(identifier(ACCOUNT_ID, nullable=False), double("total", "Sum of amount."),
                 OCCURRED_AT.model_copy(update={{"name": "as_of", "description": "Newest event."}})),
    )

    @data_product(declared)
    def build(ctx):
        return f"SELECT account_id, sum(amount) * {{i}} AS total, max(occurred_at) AS as_of FROM staging.events GROUP BY 1"

    return build


defs = domain_definitions(DOMAIN, sources=[EVENTS], products=[product(i) for i in range({count})])
'''


def write_domain(folder: Path, count: int, name: str = "synthetic") -> str:
    """Write package `<name>_domain` under `folder`; returns the module to import."""
    package = folder / f"{name}_domain"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "definitions.py").write_text(MODULE.format(name=name, count=count))
    return f"{name}_domain.definitions"
