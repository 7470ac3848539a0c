"""Whether sensors and schedules start on, and how often sensors look: configuration, so
the same definitions serve a laptop (all off until switched on in the UI) and production
(all on, tuned for the freshness SLA), chosen by environment variables alone."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dagster import DefaultScheduleStatus, DefaultSensorStatus


@dataclass(frozen=True)
class AutomationSettings:
    running: bool
    landing_interval_seconds: int
    automation_interval_seconds: int
    erasure_interval_seconds: int

    @classmethod
    def from_env(cls) -> "AutomationSettings":
        return cls(
            running=_switch(os.environ.get("MESH_AUTOMATION", "off")),
            landing_interval_seconds=int(os.environ.get("MESH_LANDING_SENSOR_SECONDS", "15")),
            automation_interval_seconds=int(os.environ.get("MESH_AUTOMATION_SENSOR_SECONDS", "15")),
            erasure_interval_seconds=int(os.environ.get("MESH_ERASURE_SENSOR_SECONDS", "30")),
        )

    @property
    def sensor_status(self) -> DefaultSensorStatus:
        return DefaultSensorStatus.RUNNING if self.running else DefaultSensorStatus.STOPPED

    @property
    def schedule_status(self) -> DefaultScheduleStatus:
        return DefaultScheduleStatus.RUNNING if self.running else DefaultScheduleStatus.STOPPED


_SWITCH = {"on": True, "off": False}


def _switch(value: str) -> bool:
    if value.lower() not in _SWITCH:
        raise ValueError(f"MESH_AUTOMATION must be 'on' or 'off', not '{value[:20]}'")
    return _SWITCH[value.lower()]


AUTOMATION = AutomationSettings.from_env()
