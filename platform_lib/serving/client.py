"""Reading the mesh from anywhere: through `mesh serve`, with the profile file a platform
admin issued, over the Delta Sharing protocol (the `delta-sharing` connector). What a
caller may read, and how masked, is the server's decision; this side only asks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import delta_sharing
import duckdb
import pyarrow as pa

from platform_lib.declare.names import brief, parse_ref
from platform_lib.lifecycle.read import parse_filters
from platform_lib.storage.sql import q


@dataclass(frozen=True)
class RemoteTable:
    product_id: str
    major: int
    description: str
    columns: list[str]


class Remote:
    """The mesh as the server shows it to the principal of `profile`."""

    def __init__(self, profile: str | Path):
        self.profile = str(Path(profile).expanduser())
        self.client = delta_sharing.SharingClient(self.profile)

    def _url(self, product_id: str, major: int) -> str:
        domain, product = product_id.split(".")
        return f"{self.profile}#{domain}.{product}.v{major}"

    def tables(self) -> list[RemoteTable]:
        """Every product version the server shares with this principal, newest major last."""
        found = []
        for t in self.client.list_all_tables():
            product_id, major = f"{t.share}.{t.schema}", int(t.name[1:])
            meta = delta_sharing.get_table_metadata(self._url(product_id, major))
            columns = [f["name"] for f in json.loads(meta.schema_string)["fields"]]
            found.append(RemoteTable(product_id, major, meta.description or "", columns))
        return sorted(found, key=lambda r: (r.product_id, r.major))

    def _major(self, ref: str) -> tuple[str, int]:
        domain, product, major = parse_ref(ref)
        product_id = f"{domain}.{product}"
        if major is None:
            majors = [int(t.name[1:]) for t in self.client.list_all_tables() if f"{t.share}.{t.schema}" == product_id]
            if not majors:
                raise LookupError(f"no product {brief(product_id)} is shared with you; `mesh catalog` lists what is, "
                                  f"`mesh access request {brief(product_id)}` asks for it")
            major = max(majors)
        return product_id, major

    def read(self, ref: str, *, columns: list[str] | None = None, where: list[str] | None = None,
             limit: int | None = None) -> pa.Table:
        """A product through the server; `columns`, `where` (`column op value`) and `limit`
        as `mesh read` takes them, applied to what the server returned."""
        product_id, major = self._major(ref)
        frame = delta_sharing.load_as_pandas(self._url(product_id, major), limit=None if where else limit)
        con = duckdb.connect()
        try:
            con.register("product", frame)
            available = con.sql("SELECT * FROM product LIMIT 0").columns
            chosen = columns or available
            unknown = [c for c in chosen if c not in available]
            if unknown:
                raise ValueError(f"{product_id} has no columns {[brief(c) for c in unknown]}; it has {available}")
            condition, params = parse_filters(where, available)
            sql = f"SELECT {', '.join(q(c) for c in chosen)} FROM product{condition}"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            return con.sql(sql, params=params).to_arrow_table()
        finally:
            con.close()
