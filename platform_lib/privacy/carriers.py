"""Which columns hold a subject's identifiers. Declared carriers, anywhere, by name (a common
identifier) or category (a pii email); and, along the products' column lineage, every
product column that copies one under another name, through any number of products and
domains: both are matched by hash. A column computed from one (an expression, a
concatenation, an aggregate over it; a count of rows is not) cannot be matched: it is
cleared by recomputing its product.

The lineage comes in as plain data (`policies.Derivations`) from the layers that derive it.
"""

from __future__ import annotations

from pydantic import BaseModel

from platform_lib.declare.identifiers import KINDS, kind_of
from platform_lib.declare.spec import DataProduct, Source
from platform_lib.governance.policies import Derivations


def carriers_of(declared: list[Source | DataProduct]) -> dict[str, str]:
    """Column name -> identifier kind, for every column declared to recognise a subject."""
    carriers = {k: k for k in KINDS}
    carriers |= {c.name: kind for d in declared for c in d.columns if (kind := kind_of(c))}
    return carriers


class Traced(BaseModel):
    """A product column that holds an identifier kind: as it was (`direct`, matched by hash)
    or computed from it; `path` is what it derives from, as `asset.column`, back to the
    first declared carrier."""

    product: str
    column: str
    kind: str
    direct: bool
    declared: bool = False  # a declared carrier itself, matched by name already
    path: list[str]

    def __str__(self) -> str:
        return " <- ".join([f"{self.product}.{self.column}", *self.path])

    @property
    def assets(self) -> set[str]:
        """The product and every asset on its path."""
        return {self.product, *(step.rsplit(".", 1)[0] for step in self.path)}


def trace(carriers: dict[str, str], lineage: Derivations) -> list[Traced]:
    """Every product column that holds an identifier kind (one entry per kind), declared or
    found along the lineage. A copy of a copy is a copy; anything computed on the way
    makes the column derived."""
    found: dict[tuple[str, str, str], Traced] = {}

    def origin(asset: str, column: str, kind: str) -> tuple[bool, list[str]] | None:
        if carriers.get(column) == kind:
            return True, [f"{asset}.{column}"]
        if held := found.get((asset, column, kind)):
            return held.direct, [f"{asset}.{column}", *held.path]
        return None

    changed = True
    while changed:  # until every copy of a copy is found: each entry changes at most twice
        changed = False
        for product, columns in sorted(lineage.items()):
            for name, inputs in sorted(columns.items()):
                for (asset, column), copied in sorted(inputs.items()):
                    for kind in KINDS:
                        if (via := origin(asset, column, kind)) is None:
                            continue
                        if carriers.get(name) not in (None, kind):
                            continue  # declared as another kind: matched as that
                        is_declared = name in carriers
                        entry = Traced(product=product, column=name, kind=kind, direct=is_declared or (via[0] and copied),
                                       declared=is_declared, path=via[1])
                        known = found.get((product, name, kind))
                        if known is None or (entry.direct and not known.direct):
                            found[(product, name, kind)] = entry
                            changed = True
    return sorted(found.values(), key=lambda t: (t.product, t.column, t.kind))


def describe(columns: list[Traced]) -> list[str]:
    """How a plan names them, product by product: what carries the subject's identifiers
    (matched by hash) and what derives from them (cleared by recomputing the product)."""
    lines = []
    for product in sorted({t.product for t in columns}):
        here = [t for t in columns if t.product == product]
        for direct, says in ((True, "carries the subject's identifiers: matched by hash"),
                             (False, f"derived from the subject's identifiers: cleared by recomputing {product}")):
            if paths := sorted({str(t) for t in here if t.direct == direct}):
                lines += [f"{product}: {says}", *(f"    {p}" for p in paths)]
    return lines
