"""How the mesh runs by itself: each domain's landing sensor, declarative automation of
products on their upstream products, and the daily schedules."""

from platform_lib.automation.conditions import on_upstream_published, upstream_automation_sensor
from platform_lib.automation.landing import landing_sensor
from platform_lib.automation.schedules import full_rebuild_schedule
from platform_lib.automation.settings import AUTOMATION, AutomationSettings

__all__ = [
    "AUTOMATION",
    "AutomationSettings",
    "full_rebuild_schedule",
    "landing_sensor",
    "on_upstream_published",
    "upstream_automation_sensor",
]
