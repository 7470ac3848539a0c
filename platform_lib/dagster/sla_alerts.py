"""SLA alerting: a sensor per domain turns failed SLA checks into notifications, sent to
a log file by default and to Slack when a webhook is configured."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetKey,
    ConfigurableResource,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from platform_lib.config import settings
from platform_lib.declare.checks import SLA_CHECKS


class Notifier(ConfigurableResource):
    """Where alerts go: always a JSON-lines log file; also Slack when a webhook is set."""

    home: str = ""  # the mesh root; empty means the configured one
    slack_webhook_url: str = ""

    @property
    def log_path(self) -> Path:
        return (Path(self.home) if self.home else settings().home) / "alerts" / "sla.log"

    def send(self, alert: dict) -> None:
        path = self.log_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(json.dumps(alert, sort_keys=True) + "\n")
        if self.slack_webhook_url:
            body = json.dumps({"text": alert["message"]}).encode()
            request = urllib.request.Request(self.slack_webhook_url, data=body, headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=10).close()


def sla_alert_sensor(domain: str, products: list[AssetKey]) -> SensorDefinition:
    from platform_lib.dagster.automation.switch import sensor_status  # the automation package imports the notifier

    @sensor(
        name=f"{domain}_sla_alerts",
        description=f"Sends a notification for every failed SLA check of a {domain} data product.",
        minimum_interval_seconds=60,
        default_status=sensor_status(),  # on in production, switched on in the UI locally
    )
    def _alerts(context: SensorEvaluationContext, notifier: Notifier):
        seen = json.loads(context.cursor) if context.cursor else {}
        sent = 0
        for key in products:
            for check in sorted(SLA_CHECKS):
                check_key = AssetCheckKey(key, check)
                last = seen.get(check_key.to_user_string(), 0)
                records = context.instance.event_log_storage.get_asset_check_execution_history(check_key, limit=100)
                for record in sorted((r for r in records if r.id > last and r.event is not None), key=lambda r: r.id):
                    seen[check_key.to_user_string()] = record.id
                    evaluation = record.event.dagster_event.event_specific_data
                    if not isinstance(evaluation, AssetCheckEvaluation) or evaluation.passed:
                        continue
                    notifier.send(_alert(".".join(key.path), evaluation, record.event.timestamp, record.run_id))
                    sent += 1
        context.update_cursor(json.dumps(seen, sort_keys=True))
        # The sensor notifies and never starts a run, so Dagster files every tick as skipped;
        # the reason says what the tick did.
        where = str(notifier.log_path) + (" and Slack" if notifier.slack_webhook_url else "")
        return SkipReason(f"no run to start; {sent} new failed SLA check(s) notified to {where}" if sent
                          else "no run to start; no new failed SLA check since the last tick")

    return _alerts


def _alert(product: str, evaluation: AssetCheckEvaluation, at: float, run_id: str) -> dict:
    measured = {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}
    measured = {k: v for k, v in measured.items() if isinstance(v, (int, float, str))}
    return {
        "at": datetime.fromtimestamp(at, timezone.utc).isoformat(),
        "product": product,
        "sla": evaluation.check_name,
        "severity": evaluation.severity.value,
        "run_id": run_id,
        "measured": measured,
        "message": f"SLA missed: {product} {evaluation.check_name} {json.dumps(measured, default=str)[:300]}",
    }
