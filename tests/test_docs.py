"""`mesh docs`: the mesh as one self-contained web page, opened from disk in a real headless
Chromium (Debian's package), clicked through and screenshotted."""

from __future__ import annotations

import io
import json
import os
import shutil

import pytest
from deltalake import DeltaTable
from PIL import Image
from playwright.sync_api import sync_playwright

from tests.helpers import mesh_in_process

CHROMIUM = os.environ.get("MESH_TEST_CHROMIUM") or shutil.which("chromium")
# As root, and on a machine with no way out: no sandbox, and no background calls home.
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]
LIT = (0xE4, 0x57, 0x2E)  # the page's colour for a lineage path


def pixels_near(png: bytes, rgb: tuple[int, int, int], tolerance: int = 10) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(1 for p in image.getdata() if all(abs(a - b) <= tolerance for a, b in zip(p, rgb)))


@pytest.fixture(scope="module")
def site(module_mesh, tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    # A person reads a product first: the page counts the read, and never names who made it.
    mesh_in_process("read", "revenue_operations.account_360", "--limit", "1", "--purpose", "quarterly forecast",
                    root=module_mesh, principal="frank.finance", check=True)
    done = mesh_in_process("docs", "--out", str(out), root=module_mesh)
    assert done.returncode == 0, done.stderr
    return out, json.loads((out / "mesh.json").read_text())


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "no Chromium: install Debian's chromium package, or set MESH_TEST_CHROMIUM to a Chromium binary"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def opened(browser, site):
    """The page, opened from disk, with every request it makes and every error it logs."""
    folder, _ = site
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    def go(fragment: str = ""):
        page.goto((folder / "index.html").as_uri() + fragment)
        page.wait_for_selector("body[data-ready]")
        return page

    yield go, requests, errors
    context.close()
    assert not errors, errors
    assert {r.split("#")[0] for r in requests} == {(folder / "index.html").as_uri()}, "the page loaded something else"


def test_the_graph_draws_every_product_and_source_by_domain(opened, site, module_mesh):
    go, _, _ = opened
    _, data = site
    page = go()
    declared = json.loads(mesh_in_process("catalog", "--json", root=module_mesh).stdout)
    products = {n["id"] for n in data["nodes"].values() if n["kind"] == "product"}
    assert products == {p["id"] for p in declared} and len(products) == 17
    drawn = page.eval_on_selector_all("#graph .node", "gs => gs.map(g => [g.dataset.node, g.classList.contains('source'), "
                                                      "g.getBoundingClientRect().width, g.getBoundingClientRect().height])")
    assert {n for n, source, *_ in drawn if not source} == products
    assert {n for n, source, *_ in drawn if source} == {n for n, v in data["nodes"].items() if v["kind"] == "source"}
    assert all(w > 50 and h > 10 for *_, w, h in drawn), "a box of the graph has no size"
    assert page.locator("#graph .edge").count() == len(data["graph"]["edges"]) > 20

    shot = page.locator("#graph").screenshot()
    for domain in data["domains"]:  # every domain's boxes are painted in its colour
        colour = tuple(int(domain["color"][i:i + 2], 16) for i in (1, 3, 5))
        assert pixels_near(shot, colour, 4) > 2_000, f"{domain['name']}'s products are not drawn"
    assert pixels_near(shot, LIT) == 0  # nothing is selected yet

    # A product's own page: owner, what it serves, and its five SLAs with their history plotted.
    page.locator('#graph .node[data-node="revenue_operations.account_360"]').click()
    panel = page.locator('.panel[data-panel="revenue_operations.account_360"]')
    assert panel.is_visible()
    assert "Revenue Operations Lead (team revenue_operations)" in panel.inner_text()
    assert panel.locator("table.sla tr").count() == 1 + 5
    assert panel.locator("table.sla svg.spark circle").count() >= 5
    assert page.url.endswith("#/product/revenue_operations.account_360")


def test_a_column_s_lineage_is_clickable_upstream_and_downstream(opened, module_mesh):
    go, _, _ = opened
    page = go("#/product/sales.opportunity_pipeline")
    page.locator('.panel[data-panel="sales.opportunity_pipeline"] a[data-column="sales.opportunity_pipeline/amount_usd"]').click()
    panel = page.locator("#column-panel")
    assert panel.is_visible()

    def listed(title: str) -> set[str]:
        table = panel.locator("h4.lineage-title", has_text=title).locator("xpath=following-sibling::table[1]")
        return set(table.locator("a.col").all_inner_texts())

    impact = json.loads(mesh_in_process("impact", "sales.opportunity_pipeline", "--column", "amount_usd", "--json",
                                        root=module_mesh).stdout)
    assert listed("Downstream") == {f"{d['product']}.{d['column']}" for d in impact}
    assert "revenue_operations.account_360.open_pipeline_usd" in listed("Downstream")
    assert listed("Upstream") == {"sales.staging.opportunities.amount_usd"}
    lit = set(page.eval_on_selector_all("#graph .node.lit", "gs => gs.map(g => g.dataset.node)"))
    assert lit == {"sales.opportunity_pipeline", "sales.staging.opportunities", *{d["product"] for d in impact}}
    assert pixels_near(page.locator("#graph").screenshot(), LIT) > 1_000, "the lineage path is not drawn"

    # Downstream, then upstream again: a column made from two domains' products is traced to
    # both and on to the sources they were staged from.
    page.locator("#column-panel a", has_text="revenue_operations.account_360.open_pipeline_usd").click()
    assert page.url.endswith("#/column/revenue_operations.account_360/open_pipeline_usd")
    page.goto(page.url.replace("open_pipeline_usd", "lifecycle"))
    upstream = listed("Upstream")
    assert {"customer_success.account_health.is_active", "sales.opportunity_pipeline.is_open"} <= upstream
    assert any(c.startswith("customer_success.staging.") for c in upstream)
    assert any(c.startswith("sales.staging.opportunities.") for c in upstream)
    assert page.locator("#graph .node.focus").get_attribute("data-node") == "revenue_operations.account_360"


def test_the_page_holds_no_data_and_no_reader(site, module_mesh):
    """It can be shared: no value of a row, nor who read a product or why, is in it."""
    folder, data = site
    written = (folder / "index.html").read_text() + (folder / "mesh.json").read_text()
    port = DeltaTable(str(module_mesh / "products" / "marketing" / "lead_scoring_signals" / "v1"))
    emails = [e for e in port.to_pyarrow_table(columns=["email"]).column("email").to_pylist() if e]
    assert emails and not [e for e in emails if e in written]
    used = data["nodes"]["revenue_operations.account_360"]["usage"]
    assert used["readers"] >= 2 and used["purposes"] >= 2  # the build's read and frank's
    assert "frank.finance" not in written and "quarterly forecast" not in written  # what a reader typed stays in the log


def test_rows_counted_upstream_are_traced_and_odd_links_show_no_error(opened):
    go, _, _ = opened
    # web_sessions_30d sums web_behavior's sessions, a count of the staged web sessions' rows.
    page = go("#/column/revenue_operations.account_360/web_sessions_30d")
    counted = page.locator("#column-panel p.counted").all_inner_texts()
    assert "marketing.web_behavior.sessions counts the rows of marketing.staging.web_sessions" in counted
    assert page.locator('#graph .node.lit[data-node="marketing.staging.web_sessions"]').count() == 1
    for link in ("#/column/%E0%A4%A", "#/column/constructor/x", "#/product/__proto__", "#/column/sales.accounts/nope"):
        page = go(link)  # the page loads and routes without a script error (checked as the page closes)
        assert not page.locator("#graph .node.focus").count()
    assert "No column nope in sales.accounts" in page.locator("#column-panel").inner_text()
