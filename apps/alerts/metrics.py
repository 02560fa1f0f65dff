"""What /metrics adds for alerting (registered in apps.py).

* ``mailmon_alert_firing{rule,subject,severity}``: 1 per firing alert.
* The figures the node and email rules judge, per node, so teams that alert from their own
  Prometheus see the same numbers (``manage.py export_prometheus_rules`` writes rules over
  them): ``mailmon_node_*`` from each node's latest report, ``mailmon_email_*`` over the
  last 15 minutes of the 5-minute rollups, and the ingest backlog.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from .choices import GroupBy, Source
from .selectors import firing_for_metrics
from .sources import EmailNeeds, email_samples, ingest_samples, node_samples

FIRING = "mailmon_alert_firing"
EMAIL_WINDOW = 900
# source -> (metric name, help); the labels are node and role (email: node).
NODE_METRICS = {
    Source.NODE_CPU: ("mailmon_node_cpu_percent", "CPU use of the node's latest report (%)"),
    Source.NODE_MEMORY_AVAILABLE: ("mailmon_node_memory_available_percent", "Memory available (%)"),
    Source.NODE_DISK_FREE: ("mailmon_node_disk_free_percent", "Free space of the node's fullest disk (%)"),
    Source.NODE_LOAD: ("mailmon_node_load1", "1-minute load average"),
    Source.NODE_QUEUE: ("mailmon_node_queue_size", "Messages in the node's mail queue"),
    Source.NODE_SERVICE_DOWN: ("mailmon_node_services_down", "Monitored services reported down"),
    Source.NODE_OFFLINE: ("mailmon_node_offline", "1 when the node stopped reporting"),
}
EMAIL_METRICS = {
    Source.EMAIL_BOUNCE_RATE: ("mailmon_email_bounce_rate_percent", "Bounced of sent, last 15 minutes (%)"),
    Source.EMAIL_DEFERRAL_RATE: ("mailmon_email_deferral_rate_percent", "Deferred of sent, last 15 minutes (%)"),
    Source.EMAIL_DELIVERY_P95: ("mailmon_email_delivery_p95_seconds", "Delivery time p95, last 15 minutes (s)"),
    Source.EMAIL_VOLUME_DROP: ("mailmon_email_volume_drop_percent", "Sent volume drop vs same window last week (%)"),
}
EMAIL_SENT = "mailmon_email_sent_15m"
INGEST_BACKLOG = "mailmon_ingest_backlog_events"
EXPORTED = {FIRING, EMAIL_SENT, INGEST_BACKLOG, *(m for m, _ in NODE_METRICS.values()),
            *(m for m, _ in EMAIL_METRICS.values())}


def collect() -> Iterable[Metric]:
    family = GaugeMetricFamily(FIRING, "1 for every alert currently firing", labels=["rule", "subject", "severity"])
    for rule, subject, severity in firing_for_metrics():
        family.add_metric([rule, subject, severity], 1)
    yield family
    now = timezone.now()
    nodes = node_samples(now)
    for source, (name, help_text) in NODE_METRICS.items():
        gauge = GaugeMetricFamily(name, help_text, labels=["node", "role"])
        for sample in nodes.get(source, ()):
            gauge.add_metric([sample.attrs["node"], sample.attrs["role"]], sample.value)
        yield gauge
    needs = EmailNeeds({GroupBy.NODE: frozenset({EMAIL_WINDOW})}, frozenset({EMAIL_WINDOW}))
    email = email_samples(now, needs)[(GroupBy.NODE, EMAIL_WINDOW)]
    sent = GaugeMetricFamily(EMAIL_SENT, "Messages sent (delivered, bounced, deferred, rejected), last 15 minutes",
                             labels=["node"])
    for sample in email.get(Source.EMAIL_BOUNCE_RATE, ()):
        sent.add_metric([sample.attrs["node"]], sample.volume or 0)
    yield sent
    for source, (name, help_text) in EMAIL_METRICS.items():
        gauge = GaugeMetricFamily(name, help_text, labels=["node"])
        for sample in email.get(source, ()):
            gauge.add_metric([sample.attrs["node"]], sample.value)
        yield gauge
    (backlog,) = ingest_samples(None)[Source.INGEST_BACKLOG]
    yield GaugeMetricFamily(INGEST_BACKLOG, "Events accepted by the ingest API, not yet stored", value=backlog.value)
