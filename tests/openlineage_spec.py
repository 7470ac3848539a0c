"""An OpenLineage event checked against the spec as the OpenLineage Python client carries
it: the client ships no JSON schema file, but its `generated` classes are generated from
the spec's JSON schemas (core and every facet, each facet known by its `_schemaURL`), with
the spec's required fields, enums and formats. An event is rebuilt from them field by
field: a field the spec does not define, a required one missing, a value of the wrong kind,
an unknown facet or a malformed time fails; and the rebuilt event must serialize back to
exactly what was sent."""

from __future__ import annotations

import enum
import importlib
import pkgutil
import types
import typing

import attr
from openlineage.client import event_v2, generated
from openlineage.client.generated.base import BaseFacet
from openlineage.client.serde import Serde


def _facets() -> dict[str, type]:
    found = {}
    for info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, BaseFacet) and obj.__module__ == module.__name__:
                found[obj._get_schema()] = obj
    return found


FACETS = _facets()


def _rebuilt(kind, value, where: str):
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            assert type(None) in args, f"{where}: null where the spec requires a value"
            return None
        [kind] = [a for a in args if a is not type(None)]
        return _rebuilt(kind, value, where)
    if origin is list:
        assert isinstance(value, list), f"{where}: not an array"
        return [_rebuilt(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        assert isinstance(value, dict), f"{where}: not an object"
        return {k: _rebuilt(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(kind, type) and issubclass(kind, BaseFacet):
        assert value.get("_schemaURL") in FACETS, f"{where}: {value.get('_schemaURL')} is not a facet of the spec"
        kind = FACETS[value["_schemaURL"]]
    if attr.has(kind):
        assert isinstance(value, dict), f"{where}: not an object"
        attr.resolve_types(kind)
        fields = {f.name: f for f in attr.fields(kind)}
        unknown = sorted(set(value) - set(fields))
        assert not unknown, f"{where}: {unknown} not in the spec's {kind.__name__}"
        return kind(**{f.alias: _rebuilt(f.type, value[name], f"{where}.{name}")
                       for name, f in fields.items() if f.init and name in value})
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if kind is typing.Any:
        return value
    assert isinstance(value, kind), f"{where}: {value!r} is not a {kind.__name__}"
    return value


def check_run_event(event: dict) -> None:
    """Fails (AssertionError, or the client's own ValueError/TypeError) unless `event` is a
    run event as the spec defines it."""
    assert Serde.to_dict(_rebuilt(event_v2.RunEvent, event, "event")) == event, "the event does not round-trip"
