"""How the mesh runs by itself: each domain's landing sensor, declarative automation of
products on their upstream products, and the daily schedules."""

from platform_lib.dagster.automation.conditions import on_upstream_published, upstream_automation_sensor
from platform_lib.dagster.automation.landing import landing_sensor
from platform_lib.dagster.automation.schedules import full_rebuild_schedule

__all__ = [
    "full_rebuild_schedule",
    "landing_sensor",
    "on_upstream_published",
    "upstream_automation_sensor",
]
