"""Declarative automation: a product updates when a product it reads publishes a new
version (a new data version: the port's Delta version), in its own domain or another, and
only once that input's blocking checks passed.

Staged sources are left out of the trigger: the landing sensor already runs every product
downstream of new files in the same run."""

from __future__ import annotations

from dagster import AssetSelection, AutomationCondition, AutomationConditionSensorDefinition

from platform_lib.config import settings
from platform_lib.dagster.automation.switch import sensor_status

STAGING = AssetSelection.tag("layer", "staging")


def on_upstream_published() -> AutomationCondition:
    AC = AutomationCondition
    # A new version, not any materialization: a build that recomputed nothing reports its
    # product at the same data version (the port's Delta version), and nothing downstream runs.
    published = AC.any_deps_match(
        (AC.data_version_changed() & ~AC.executed_with_root_target()).with_label("published a new version")
        | AC.will_be_requested()
    ).ignore(STAGING).with_label("an input published a new version")
    return (
        (AC.newly_missing() | published).since_last_handled()
        & ~AC.any_deps_missing()
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
        & AC.all_deps_blocking_checks_passed()
    ).with_label("an input product published")


def automation_sensor_name(domain: str) -> str:
    return f"{domain}_automation"


def upstream_automation_sensor(domain: str) -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        automation_sensor_name(domain),
        target=AssetSelection.all() - STAGING,
        minimum_interval_seconds=settings().automation_sensor_seconds,
        default_status=sensor_status(),
        run_tags={"mesh/trigger": "automation", "mesh/code_location": domain},
        description=f"Re-runs a {domain} product when a product it reads (in any domain) publishes a new version "
                    "that passed its blocking checks.",
    )
