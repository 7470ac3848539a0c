"""Applying a product's purpose: drop contacts who did not consent to it, before audit."""

from __future__ import annotations

import duckdb

from platform_lib.declare.purposes import CONSENT_PRODUCT
from platform_lib.declare.spec import DataProduct
from platform_lib.lifecycle.read import port_table_name
from platform_lib.storage.sql import q


def apply(con: duckdb.DuckDBPyConnection, product: DataProduct, table: str) -> int:
    """Remove rows of contacts without consent for the product's purpose; returns how many."""
    flag = product.consent_flag
    if flag is None:
        return 0
    if not any(c.name == "contact_id" for c in product.columns):
        raise ValueError(f"{product.id}: purpose '{product.purpose}' needs consent per contact, "
                         "but the product has no contact_id column to check it on")
    consent = port_table_name(CONSENT_PRODUCT)
    where = f"contact_id IS NOT NULL AND contact_id NOT IN (SELECT contact_id FROM {consent} WHERE {q(flag)})"
    excluded = con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchall()[0][0]
    if excluded:
        con.execute(f"DELETE FROM {table} WHERE {where}")
    return excluded
