"""`mesh docs`: the mesh as one static, self-contained web page (like `dbt docs`):
products by domain with owners, SLA status and its history plotted, the graph of products
and their sources, and each column's lineage, clickable upstream and downstream.

The page holds only what the catalog shows anyone: declarations, lineage, SLA results and
read counts, never a row of data, who read it or what they wrote as their purpose. It loads nothing from anywhere else, so it
can be mailed, put on a wiki or opened from disk."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from platform_lib.catalog.show import served_versions
from platform_lib.config import MeshPaths
from platform_lib.declare.spec import DataProduct, Source
from platform_lib.governance import usage
from platform_lib.lifecycle.lineage import Lineage

# Domains in the order the go-to-market flow reads, then any other alphabetically.
DOMAIN_ORDER = ("marketing", "product", "sales", "customer_success", "revenue_operations")
PALETTE = ("#4e79a7", "#59a14f", "#f28e2b", "#b07aa1", "#9c755f", "#76b7b2", "#edc948", "#ff9da7")

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 240, 28, 70, 12, 16


def _domains(products: list[DataProduct], sources: list[Source]) -> list[str]:
    names = {d.domain for d in (*products, *sources)}
    return [d for d in DOMAIN_ORDER if d in names] + sorted(names - set(DOMAIN_ORDER))


def layout(nodes: dict[str, dict], edges: list[tuple[str, str]], domains: list[str]) -> dict:
    """Left-to-right layers: a source in the first, a product one right of its furthest
    input. Within a layer, nodes sit near the middle of what feeds them (two sweeps), ties
    by domain, so edges cross little. Returns each node's box and the canvas size."""
    feeds: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        feeds[b].append(a)
    layer: dict[str, int] = {}

    def depth(n: str) -> int:
        if n not in layer:
            layer[n] = 0 if not feeds[n] else 1 + max(depth(a) for a in feeds[n])
        return layer[n]

    for n in nodes:
        depth(n)
    columns = [sorted((n for n in nodes if layer[n] == i), key=lambda n: (domains.index(nodes[n]["domain"]), n))
               for i in range(max(layer.values(), default=-1) + 1)]
    row = {n: i for col in columns for i, n in enumerate(col)}
    for _ in range(2):
        for col in columns[1:]:
            col.sort(key=lambda n: (sum(row[a] for a in feeds[n]) / len(feeds[n]), domains.index(nodes[n]["domain"]), n))
            row |= {n: i for i, n in enumerate(col)}
    tallest = max((len(c) for c in columns), default=0)
    boxes = {}
    for i, col in enumerate(columns):
        top = PAD + (tallest - len(col)) * (NODE_H + GAP_Y) / 2  # each layer centred
        for j, n in enumerate(col):
            boxes[n] = {"x": PAD + i * (NODE_W + GAP_X), "y": round(top + j * (NODE_H + GAP_Y), 1), "w": NODE_W, "h": NODE_H}
    width = PAD * 2 + len(columns) * NODE_W + max(len(columns) - 1, 0) * GAP_X
    return {"boxes": boxes, "width": width, "height": PAD * 2 + tallest * (NODE_H + GAP_Y) - GAP_Y}


def _edge_path(a: dict, b: dict) -> str:
    x1, y1, x2, y2 = a["x"] + a["w"], a["y"] + a["h"] / 2, b["x"], b["y"] + b["h"] / 2
    mid = (x1 + x2) / 2
    return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"


def sparkline(points: list[dict], width: int = 120, height: int = 24) -> dict | None:
    """An SLA's history as an SVG polyline (its numeric values over time) with a dot per
    evaluation, green when it passed and red when not; None when there is nothing to plot."""
    if not points:
        return None
    values = [p["value"] for p in points if p["value"] is not None]
    low, high = (min(values), max(values)) if values else (0, 1)
    span = (high - low) or 1
    step = (width - 6) / max(len(points) - 1, 1)
    dots = []
    for i, p in enumerate(points):
        y = height / 2 if p["value"] is None else height - 3 - (p["value"] - low) / span * (height - 6)
        dots.append({"x": round(3 + i * step, 1), "y": round(y, 1), "passed": p["passed"], "value": p["value"],
                     "at": datetime.fromtimestamp(p["at"], timezone.utc).strftime("%Y-%m-%d %H:%M")})
    line = " ".join(f"{d['x']},{d['y']}" for d in dots) if values else ""
    return {"width": width, "height": height, "line": line, "dots": dots}


def model(products: list[DataProduct], sources: list[Source], lineage_of: dict[str, Lineage], paths: MeshPaths,
          instance=None) -> dict:
    """Everything the page shows, as plain data (also written beside it as `mesh.json`)."""
    from platform_lib.sla import report

    domains = _domains(products, sources)
    color = {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(domains)}
    reads = usage.usage(paths, {p.id: [c.name for c in p.columns] for p in products})
    nodes: dict[str, dict] = {}
    for s in sources:
        sid = ".".join(s.key_path)
        nodes[sid] = {"id": sid, "kind": "source", "domain": s.domain, "name": s.name, "description": s.description,
                      "format": s.format, "evolves": s.evolves,
                      "columns": [{"name": c.name, "type": c.type, "classification": c.classification,
                                   "description": c.description} for c in s.columns]}
    for p in products:
        found = lineage_of.get(p.id)
        lines = report.product_lines(instance, p) if instance is not None else []
        history = report.history(instance, p) if instance is not None else {}
        read = reads[p.id]
        nodes[p.id] = {
            "id": p.id, "kind": "product", "domain": p.domain, "name": p.name, "description": p.description,
            "version": p.version, "tier": p.tier, "build": p.kind, "owner": {"team": p.owner.team, "role": p.owner.role},
            "primary_key": list(p.primary_key), "inputs": [i.split("@")[0] for i in p.inputs],
            "served": [{k: v for k, v in served.items() if k != "path"} for served in served_versions(paths, p)],
            "sla": [{"sla": line.sla, "target": line.target, "current": line.current, "passing": line.passing,
                     "attainment": line.attainment, "plot": sparkline(history.get(line.sla, []))} for line in lines],
            # Counts only: who read, and the purposes they typed, stay in the audit log.
            "usage": {"days": usage.UNUSED_DAYS, "reads": read.reads, "readers": len(read.readers),
                      "purposes": len(read.purposes), "last_read": read.last_read.isoformat() if read.last_read else None},
            "lineage_problems": list(found.problems) if found else ["no lineage was derived"],
            "columns": [{"name": c.name, "type": c.type, "classification": c.classification, "description": c.description,
                         "required": p.required(c), "unresolved": found.columns[c.name].unresolved
                         if found and c.name in found.columns else [],
                         "how": sorted(found.columns[c.name].kinds) if found and c.name in found.columns else []}
                        for c in p.columns],
        }
    edges = sorted({(i, p.id) for p in products for i in nodes[p.id]["inputs"] if i in nodes})
    column_edges = sorted(
        (asset, column, pid, name, bool(v["direct"]))
        for pid, found in lineage_of.items() if pid in nodes
        for name, col in found.columns.items()
        for (asset, column), v in col.inputs.items() if asset in nodes)
    # A count of an input's rows feeds a column without any one column of it.
    row_edges = sorted((asset, pid, name) for pid, found in lineage_of.items() if pid in nodes
                       for name, col in found.columns.items() for asset in col.rows_of if asset in nodes)
    placed = layout(nodes, edges, domains)
    for p in products:
        states = [s["passing"] for s in nodes[p.id]["sla"]]
        nodes[p.id]["sla_state"] = "missed" if False in states else "met" if states and all(states) else ""
    ok = {p.id for p in products if nodes[p.id]["sla_state"] == "met"}
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "domains": [{"name": d, "color": color[d], "products": sorted(p.id for p in products if p.domain == d),
                     "meeting_slas": sum(1 for p in products if p.domain == d and p.id in ok),
                     "sources": sorted(n for n, v in nodes.items() if v["kind"] == "source" and v["domain"] == d)}
                    for d in domains],
        "totals": {"products": len(products), "sources": len(sources), "meeting_slas": len(ok),
                   "columns": sum(len(p.columns) for p in products),
                   "traced": sum(1 for p in products for c in nodes[p.id]["columns"] if not c["unresolved"] and c["how"]),
                   "unresolved": sum(1 for p in products for c in nodes[p.id]["columns"] if c["unresolved"])},
        "nodes": nodes,
        "graph": {"width": placed["width"], "height": placed["height"], "boxes": placed["boxes"],
                  "edges": [{"from": a, "to": b, "path": _edge_path(placed["boxes"][a], placed["boxes"][b])} for a, b in edges],
                  "colors": color},
        "column_edges": [list(e) for e in column_edges],
        "row_edges": [list(e) for e in row_edges],
    }


def _script_json(data) -> str:
    """JSON that is safe inside a <script> element: no `</script>` or HTML comment can end it."""
    return json.dumps(data, sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(site: dict) -> str:
    env = Environment(loader=PackageLoader("platform_lib.catalog", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    page = env.get_template("docs.html")
    return page.render(site=site, data=_script_json({k: site[k] for k in ("nodes", "column_edges", "row_edges", "graph")}))


def write(site: dict, out: Path) -> list[Path]:
    """`index.html` (the page) and `mesh.json` (what it shows, for other tools) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    page, data = out / "index.html", out / "mesh.json"
    page.write_text(render(site), encoding="utf-8")
    data.write_text(json.dumps(site, indent=1, sort_keys=True, default=str), encoding="utf-8")
    return [page, data]
