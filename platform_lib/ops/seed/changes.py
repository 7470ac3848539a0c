"""How each source system changes its entity records, at known rates per extraction batch:
deals move forward through the stages, amounts and budgets are revised, people change
titles and lifecycle stage, accounts change owner or revenue, plans and roles change,
subscriptions are cancelled. Keys and references never change."""

from __future__ import annotations

import numpy as np

from platform_lib.ops.seed.evolve import Change, Frame
from platform_lib.ops.seed.render import Cat, Date, Num, parse, render
from platform_lib.ops.seed.systems import (
    FORECAST,
    LIFECYCLE,
    PLANS,
    ROLES,
    STAGES,
    SUBSCRIPTION_STATUS,
    WORKSPACE_PLANS,
    forecast_of,
)
from platform_lib.ops.seed.universe import BANDS, REPS, TITLES

OPEN = range(5)  # prospecting .. negotiation; closed_won and closed_lost are final


def _labels(cat: Cat, codes: np.ndarray) -> np.ndarray:
    return np.array(cat.values, dtype=object)[codes]


def _is(column: str, cat: Cat, codes=None):
    """Records whose `column` holds one of `codes` (default: any value `cat` holds)."""
    return lambda f: np.isin(parse(cat, f[column]), list(codes if codes is not None else range(len(cat.values))))


def _another(column: str, cat: Cat, among=None):
    """A different value, among `among` (default: all of `cat`); eligible records hold one of them."""
    choices = np.array(sorted(among if among is not None else range(len(cat.values))))

    def apply(f: Frame, rng: np.random.Generator) -> dict[str, np.ndarray]:
        at = np.searchsorted(choices, parse(cat, f[column]))
        return {column: _labels(cat, choices[(at + rng.integers(1, len(choices), len(at))) % len(choices)])}
    return apply


def _step(column: str, cat: Cat, up: float = 1.0):
    """One step along `cat`'s order: up with probability `up` (always from the bottom), else down."""
    top = len(cat.values) - 1

    def apply(f: Frame, rng: np.random.Generator) -> dict[str, np.ndarray]:
        now = parse(cat, f[column])
        rising = (now == 0) | ((now < top) & (rng.random(len(now)) < up))
        return {column: _labels(cat, np.where(rising, now + 1, now - 1))}
    return apply


def _scaled(column: str, low: float, high: float, digits: int):
    """An amount revised by a factor in [low, high), rounded; never to the same amount."""
    def apply(f: Frame, rng: np.random.Generator) -> dict[str, np.ndarray]:
        old = parse(Num, f[column])
        new = np.round(old * rng.uniform(low, high, len(old)), digits)
        return {column: np.where(new == old, old + 10.0 ** -digits, new)}
    return apply


def _advance_stage(f: Frame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Forward along the stages: to the next one, from negotiation to closed won or lost, and
    from any open stage to closed lost for some. Forecast follows; a closing deal's close
    date becomes the day it closed."""
    stage = parse(STAGES, f["stage"])
    to = np.where(stage == 4, np.where(rng.random(len(stage)) < 0.45, 5, 6), stage + 1)
    to = np.where(rng.random(len(stage)) < 0.1, 6, to)
    closed_on = render(Date, f["_when"]).to_numpy(zero_copy_only=False)
    return {"stage": _labels(STAGES, to), "forecast_category": _labels(FORECAST, forecast_of(to)),
            "close_date": np.where(to >= 5, closed_on, f["close_date"])}


def _change_plan(f: Frame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """An upgrade (most) or a downgrade, its recurring revenue moving with it."""
    new = _step("plan", PLANS, up=0.7)(f, rng)
    rising = parse(PLANS, new["plan"]) > parse(PLANS, f["plan"])
    factor = np.where(rising, rng.uniform(1.3, 1.8, len(rising)), rng.uniform(0.55, 0.8, len(rising)))
    return new | {"arr_usd": np.round(parse(Num, f["arr_usd"]) * factor, 2)}


def _cancel(f: Frame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"status": _labels(SUBSCRIPTION_STATUS, np.full(len(f["_when"]), 1)),
            "end_date": render(Date, f["_when"]).to_numpy(zero_copy_only=False)}


ACTIVE = _is("status", SUBSCRIPTION_STATUS, [0])

# Per source ("domain/name"), its kinds of change; a rate is the share of the eligible
# records (current, not changed since the batch began) that change in one batch.
CHANGES: dict[str, tuple[Change, ...]] = {
    "marketing/accounts": (
        Change("employee_band_grew", 0.02, _is("employee_band", Cat(BANDS), range(len(BANDS) - 1)),
               _step("employee_band", Cat(BANDS))),
    ),
    "marketing/contacts": (
        Change("lifecycle_stage_advanced", 0.04, _is("lifecycle_stage", LIFECYCLE, range(len(LIFECYCLE.values) - 1)),
               _step("lifecycle_stage", LIFECYCLE)),
        Change("job_title_changed", 0.01, _is("job_title", Cat(TITLES)), _another("job_title", Cat(TITLES))),
    ),
    "marketing/campaigns": (
        Change("budget_revised", 0.08, lambda f: np.ones(len(f["budget_usd"]), bool), _scaled("budget_usd", 0.7, 1.4, 2)),
    ),
    "sales/accounts": (
        Change("owner_rep_reassigned", 0.02, _is("owner_rep", Cat(REPS)), _another("owner_rep", Cat(REPS))),
        Change("annual_revenue_restated", 0.03, lambda f: np.ones(len(f["annual_revenue_usd"]), bool),
               _scaled("annual_revenue_usd", 0.85, 1.3, 0)),
    ),
    "sales/contacts": (
        Change("title_changed", 0.015, _is("title", Cat(TITLES)), _another("title", Cat(TITLES))),
    ),
    "sales/opportunities": (
        Change("stage_advanced", 0.15, _is("stage", STAGES, OPEN), _advance_stage),
        Change("amount_revised", 0.08, _is("stage", STAGES, OPEN), _scaled("amount_usd", 0.7, 1.3, 2)),
    ),
    "product/workspaces": (
        Change("plan_changed", 0.03, _is("plan", WORKSPACE_PLANS), _step("plan", WORKSPACE_PLANS, up=0.7)),
    ),
    "product/users": (  # owners keep their role; everyone else may move between the others
        Change("role_changed", 0.02, _is("role", ROLES, [1, 2, 3]), _another("role", ROLES, [1, 2, 3])),
    ),
    "customer_success/subscriptions": (
        Change("plan_changed", 0.02, lambda f: ACTIVE(f) & _is("plan", PLANS)(f), _change_plan),
        Change("arr_revised", 0.05, ACTIVE, _scaled("arr_usd", 0.9, 1.2, 2)),
        Change("cancelled", 0.01, ACTIVE, _cancel),
    ),
}


# Event sources that log an entity's moves: a batch lands one event per move its new
# versions make (from the current version's value to the new one's, at the new version's
# time), not old events again.
# Source -> (the entity, its column that moves, the source's columns for before and after).
MOVES: dict[str, tuple[str, str, str, str]] = {
    "sales/opportunity_stage_history": ("sales/opportunities", "stage", "from_stage", "to_stage"),
}
