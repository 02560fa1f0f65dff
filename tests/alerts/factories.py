"""Rules, channels and node reports for the alerting tests."""

from __future__ import annotations

import datetime as dt

import factory

from apps.alerts.models import Channel, Rule
from apps.core import timeseries
from apps.nodes.models import Node, NodeMetric


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    name = factory.Sequence(lambda n: f"rule {n}")
    source = "node.cpu"
    condition = ">"
    threshold = 80
    for_seconds = 60
    severity = "warning"
    scope = "fleet"
    resolve_seconds = 0


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    name = factory.Sequence(lambda n: f"channel {n}")
    kind = "webhook"
    url = "http://127.0.0.1:9/hook"
    secret = "s3cret"


def report(node: Node, when: dt.datetime, **values) -> NodeMetric:
    """One agent report for ``node`` at ``when`` (defaults: a healthy node)."""
    timeseries.ensure_partitions(NodeMetric._meta.db_table, [when.date()])
    fields = {"cpu_percent": 10.0, "memory_percent": 40.0, "queue_size": 0, "services": {"smtp": True}} | values
    return NodeMetric.objects.create(node=node, time=when, **fields)
