"""``mailmon_alert_firing{rule,subject,severity}`` for /metrics (registered in apps.py)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from .selectors import firing_for_metrics

FIRING = "mailmon_alert_firing"


def collect() -> Iterable[Metric]:
    family = GaugeMetricFamily(FIRING, "1 for every alert currently firing", labels=["rule", "subject", "severity"])
    for rule, subject, severity in firing_for_metrics():
        family.add_metric([rule, subject, severity], 1)
    yield family
