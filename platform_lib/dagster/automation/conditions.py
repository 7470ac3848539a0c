"""Declarative automation: a product updates when a product it reads publishes a new
version (a new data version: the port's Delta version), in its own domain or another, and
only once that input's blocking checks passed.

Staged sources are left out of the trigger: the landing sensor already runs every product
downstream of new files in the same run."""

from __future__ import annotations

from dagster import AssetSelection, AutomationCondition, AutomationConditionSensorDefinition

from platform_lib.config import settings
from platform_lib.dagster.automation.switch import sensor_interval, sensor_status

STAGING = AssetSelection.tag("layer", "staging")


def on_upstream_published() -> AutomationCondition:
    AC = AutomationCondition
    # A new version, not any materialization: a build that recomputed nothing reports its
    # product at the same data version (the port's Delta version), and nothing downstream runs.
    published = AC.any_deps_match(
        (AC.data_version_changed() & ~AC.executed_with_root_target()).with_label("published a new version")
        | AC.will_be_requested()
    ).ignore(STAGING).with_label("an input published a new version")
    # An input whose own input just published is about to run again (account_360 reads
    # account_health, which reads product_health_scores): waiting one tick lets its run be
    # queued, and then `in progress` holds this product until it publishes, instead of a
    # run now and another once it has. Each domain's sensor evaluates in the same daemon
    # loop, so in the tick the input publishes, the run of its reader is not queued yet.
    inputs_behind = AC.any_deps_match(
        AC.any_deps_match(AC.newly_updated()).ignore(STAGING) & ~AC.will_be_requested()
    ).with_label("an input's input published since the last tick")
    return (
        (AC.newly_missing() | published).since_last_handled()
        & ~AC.any_deps_missing()
        & ~AC.any_deps_in_progress()
        & ~inputs_behind
        & ~AC.in_progress()
        & AC.all_deps_blocking_checks_passed()
    ).with_label("an input product published")


def automation_sensor_name(domain: str) -> str:
    return f"{domain}_automation"


def upstream_automation_sensor(domain: str) -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        automation_sensor_name(domain),
        target=AssetSelection.all() - STAGING,
        minimum_interval_seconds=sensor_interval(settings().automation_sensor_seconds),
        default_status=sensor_status(),
        run_tags={"mesh/trigger": "automation", "mesh/code_location": domain},
        description=f"Re-runs a {domain} product when a product it reads (in any domain) publishes a new version "
                    "that passed its blocking checks.",
    )
