"""The benchmark harness cannot rot: the floor runs every product's own transformation and
gets the products' own results; the audit and load-time figures run at small sizes.
(Timing goals are never asserted here; `benchmarks/run.py` reports them.)"""

from __future__ import annotations

from deltalake import DeltaTable

from platform_lib.config import MeshPaths
from platform_lib.dagster.workspace import code_locations, declared_products

from benchmarks.floor import compiled_models, run_floor
from benchmarks.run import audit_of_rows, definition_loads


def test_the_floor_is_the_products_own_transformations(private_mesh, configure):
    root = private_mesh()
    configure(home=str(root))
    paths = MeshPaths(root)
    seconds, rows = run_floor(paths, compiled_models(paths))
    assert seconds > 0
    products = declared_products(code_locations())
    assert set(rows) == {p.id for p in products}
    for product in products:
        floor_rows, floor_columns = rows[product.id]
        published = DeltaTable(str(paths.port(product.domain, product.name, product.major))).to_pyarrow_table()
        # Same transformation, same shape; the floor keeps rows staging would have quarantined
        # and consent would have narrowed, so counts agree only closely.
        assert floor_columns == published.column_names, product.id
        if product.consent_flag:
            assert floor_rows >= published.num_rows, product.id
        else:
            assert abs(floor_rows - published.num_rows) <= 0.1 * published.num_rows + 5, (product.id, floor_rows, published.num_rows)


def test_audit_and_load_figures_run(tmp_path):
    assert audit_of_rows(20_000, tmp_path) > 0
    loads = definition_loads(tmp_path, products=20, repeat=1, only={"sales"})
    assert set(loads) == {"sales", "synthetic (20 products)"}
    assert all(v > 0 for v in loads.values())
