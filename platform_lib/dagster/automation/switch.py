"""Whether sensors and schedules start on: configuration (`MESH_AUTOMATION`, and
`MESH_SCHEDULES` for schedules alone), so the same definitions serve a laptop (all off until
switched on in the UI) and production (all on)."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, DefaultSensorStatus

from platform_lib.config import settings


def sensor_status() -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if settings().automation_running else DefaultSensorStatus.STOPPED


def schedule_status() -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if settings().schedules_running else DefaultScheduleStatus.STOPPED
