"""The mesh from a notebook: discover, read (governed), combine on common identifiers, and
materialize, each in a line or two.

    from platform_lib.ops.notebook import Mesh
    mesh = Mesh(profile="frank.share")               # from `mesh token issue frank.finance --out frank.share`
    mesh.catalog()                                   # every product, its owner and version
    mesh.read("sales.opportunity_pipeline")          # a pandas DataFrame, through the grants
    mesh.combine(["sales.opportunity_pipeline", "customer_success.account_health"], on="account_id")
    mesh.materialize("marketing.web_behavior")       # a real run, in the UI's run history

From any machine, through `mesh serve` at the profile's endpoint (catalog, read, combine):

    mesh = Mesh(profile="frank.share", remote=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from platform_lib.catalog.search import search
from platform_lib.config import MeshPaths, settings
from platform_lib.declare.identifiers import COMMON_IDENTIFIERS
from platform_lib.declare.spec import DataProduct
from platform_lib.governance import identity
from platform_lib.governance.registry import Principal
from platform_lib.lifecycle.read import read_product


@dataclass
class Mesh:
    """The mesh as the principal a credential proves sees it: the Delta Sharing `profile`
    file `mesh token issue ... --out FILE` wrote, or a `token`; by default `MESH_PROFILE`
    or `MESH_TOKEN`, as the Delta Sharing connectors read them."""

    profile: str | Path | None = None
    token: str | None = field(default=None, repr=False)
    paths: MeshPaths = field(default_factory=MeshPaths.from_env)
    # Read through `mesh serve` at the profile's endpoint, from any machine, instead of the
    # local stores (which only the mesh's own account opens).
    remote: bool = False
    caller: Principal | None = field(init=False, default=None)

    def __post_init__(self):
        if self.remote:
            from platform_lib.serving.client import Remote

            profile = self.profile or settings().profile
            if profile is None:
                raise identity.Unauthenticated("reading through the server needs a profile file: Mesh(profile=..., remote=True)")
            self._server = Remote(profile)
        else:
            self.caller = identity.caller(self.paths, token=self.token, profile_file=self.profile)

    @property
    def principal(self) -> str:
        return self.caller.id if self.caller else "the profile's principal"

    @cached_property
    def _locations(self):
        from platform_lib.dagster.workspace import code_locations

        return code_locations()

    @cached_property
    def products(self) -> dict[str, DataProduct]:
        from platform_lib.dagster.workspace import declared_products

        return {p.id: p for p in declared_products(self._locations)}

    def catalog(self, text: str = "", **filters) -> pd.DataFrame:
        """Products matching `text` (all when empty), best first; filters as `mesh catalog`.
        Through the server: the products shared with you, matching `text`."""
        if self.remote:
            return pd.DataFrame([{
                "product": t.product_id, "version": f"v{t.major}", "description": t.description.split(". ")[0],
                "identifiers": [c for c in t.columns if c in COMMON_IDENTIFIERS],
            } for t in self._server.tables() if text.lower() in f"{t.product_id} {t.description}".lower()])
        hits = search(list(self.products.values()), text, **filters)
        return pd.DataFrame([{
            "product": h.product.id, "version": h.product.version, "owner": h.product.owner.role,
            "description": h.product.description.split(". ")[0], "identifiers": self.identifiers(h.product.id),
        } for h in hits])

    def identifiers(self, product_id: str) -> list[str]:
        """The common identifiers a product carries: what it can be combined on."""
        if self.remote:
            shared = [t for t in self._server.tables() if t.product_id == product_id]
            return [c for c in shared[-1].columns if c in COMMON_IDENTIFIERS] if shared else []
        return [c.name for c in self.products[product_id].columns if c.name in COMMON_IDENTIFIERS]

    def read(self, ref: str, *, columns: Sequence[str] | None = None, where: Sequence[str] | None = None,
             limit: int | None = None, purpose: str | None = None) -> pd.DataFrame:
        """A product's current (or `ref@major`) version; refused without a grant, PII masked
        without PII access, audited like every read."""
        if self.remote:
            return self._server.read(ref, columns=list(columns) if columns else None, where=list(where) if where else None,
                                     limit=limit).to_pandas()
        table = read_product(ref, columns=list(columns) if columns else None, where=list(where) if where else None,
                             limit=limit, purpose=purpose, caller=self.caller, paths=self.paths)
        return table.to_pandas()

    def combine(self, refs: Sequence[str], on: str = "account_id", how: str = "left") -> pd.DataFrame:
        """Products joined on a common identifier; columns other than `on` are prefixed with
        their product name where two products share a name."""
        if on not in COMMON_IDENTIFIERS:
            raise ValueError(f"'{on}' is not a common identifier; combine on one of {sorted(COMMON_IDENTIFIERS)}")
        missing = [r for r in refs if on not in self.identifiers(r.split("@")[0])]
        if missing:
            raise ValueError(f"{missing} do not carry {on}; `mesh.identifiers(product)` shows what each can join on")
        frames = [self.read(r) for r in refs]
        names = [r.split("@")[0].split(".")[1] for r in refs]
        combined = frames[0]
        for frame, name in zip(frames[1:], names[1:]):
            shared = (set(frame.columns) & set(combined.columns)) - {on}
            combined = combined.merge(frame.rename(columns={c: f"{name}.{c}" for c in shared}), on=on, how=how)
        return combined

    def materialize(self, product_id: str) -> str:
        """Run the product (and what it needs in its domain) as a real Dagster run on the
        mesh's instance, the one the UI shows; returns the run id."""
        from platform_lib.ops.build import build_mesh
        from platform_lib.ops.instance import mesh_instance

        self._local("materialize")
        if product_id not in self.products:
            raise KeyError(f"no product '{product_id}'; `mesh.catalog()` lists them")
        [outcome] = build_mesh(mesh_instance(self.paths), self._locations, [product_id], workers=1)
        if not outcome.success:
            raise RuntimeError(f"{product_id} did not publish (run {outcome.run_id}): {outcome.error}")
        return outcome.run_id

    def runs(self, limit: int = 10) -> pd.DataFrame:
        """The latest runs on the mesh's instance, as the UI's run history lists them."""
        from platform_lib.ops.instance import mesh_instance

        self._local("runs")
        records = mesh_instance(self.paths).get_run_records(limit=limit)
        return pd.DataFrame([{
            "run_id": r.dagster_run.run_id, "status": r.dagster_run.status.value,
            "location": r.dagster_run.tags.get("mesh/code_location"),
            "assets": sorted(".".join(k.path) for k in r.dagster_run.asset_selection or []),
            "created": r.create_timestamp,
        } for r in records])

    def _local(self, what: str) -> None:
        if self.remote:
            raise RuntimeError(f"{what} runs where the mesh runs: the server only serves products to read")
