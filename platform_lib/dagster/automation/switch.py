"""Whether sensors and schedules start on: configuration (`MESH_AUTOMATION`, and
`MESH_SCHEDULES` for schedules alone), so the same definitions serve a laptop (all off until
switched on in the UI) and production (all on); and how often a sensor ticks."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, DefaultSensorStatus

from platform_lib.config import settings


def sensor_status() -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if settings().automation_running else DefaultSensorStatus.STOPPED


def schedule_status() -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if settings().schedules_running else DefaultScheduleStatus.STOPPED


# Dagster's daemons look at every sensor once per loop (`MIN_INTERVAL_LOOP_TIME` of
# dagster._daemon.sensor, `MIN_INTERVAL_LOOP_SECONDS` of dagster._daemon.asset_daemon) and
# pass over one whose last tick began less than its minimum interval ago.
DAEMON_LOOP_SECONDS = 5


def sensor_interval(seconds: int) -> int:
    """The minimum interval that makes a sensor tick every `seconds`, rounded up to whole
    daemon loops. Exactly that many loops would be missed whenever the last tick began a
    moment later in its loop than the next loop's check (a 5 s sensor ticked every 5 or
    10 s); half a loop less absorbs that jitter."""
    loops = max(1, -(-seconds // DAEMON_LOOP_SECONDS))
    return loops * DAEMON_LOOP_SECONDS - DAEMON_LOOP_SECONDS // 2
