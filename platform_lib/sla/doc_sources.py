"""Where a product's code and documentation live, for the documentation-currency SLA."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from platform_lib.config import PROJECT_ROOT
from platform_lib.declare.spec import DataProduct
from platform_lib.sla.docs_currency import DocSources, Span


def describe(sources: DocSources) -> dict[str, str]:
    """Asset metadata naming where the code and the docs live (relative to the project)."""
    return {"mesh/code": ", ".join(_show(s) for s in sources.code), "mesh/docs": ", ".join(_show(s) for s in sources.docs)}


def _show(span: Span) -> str:
    try:
        path = span.path.relative_to(PROJECT_ROOT)
    except ValueError:
        path = span.path
    return str(path) if span.first is None else f"{path}:{span.first}-{span.last}"


def python_sources(product: DataProduct, build) -> DocSources:
    """Code: the build function's lines. Docs: the lines of the product's declaration."""
    path = Path(inspect.getsourcefile(build))
    lines, first = inspect.getsourcelines(build)
    code = Span(path, first, first + len(lines) - 1)
    return DocSources(code=(code,), docs=(_declaration_span(path, product) or Span(path),))


def _declaration_span(path: Path, product: DataProduct) -> Span | None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "DataProduct":
            for kw in node.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant) and kw.value.value == product.name:
                    return Span(path, node.lineno, node.end_lineno)
    return None


def dbt_sources(node: dict, project_dir: Path) -> DocSources:
    """Code: the model's SQL file. Docs: its YAML file."""
    code = Span(project_dir / node["original_file_path"])
    patch = node.get("patch_path")
    docs = Span(project_dir / patch.split("://", 1)[1]) if patch else code
    return DocSources(code=(code,), docs=(docs,))
