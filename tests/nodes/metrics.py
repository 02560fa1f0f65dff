"""Node metric rows for the node page, API and selector tests, stored as the ingest API stores them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.core import timeseries
from apps.nodes.models import Node, NodeMetric


def store_metrics(node: Node, rows: list[dict[str, Any]]) -> list[NodeMetric]:
    """``rows`` each with a ``time``; day partitions are created first, as the ingest service does."""
    days = sorted({row["time"].date() for row in rows})
    timeseries.ensure_partitions(NodeMetric._meta.db_table, days)
    return NodeMetric.objects.bulk_create([NodeMetric(node=node, **row) for row in rows])


def every_15s(start: dt.datetime, count: int, **fields: Any) -> list[dict[str, Any]]:
    """``count`` reports 15 s apart from ``start``: fields may be callables of the sample number."""
    return [
        {"time": start + dt.timedelta(seconds=15 * i),
         **{name: value(i) if callable(value) else value for name, value in fields.items()}}
        for i in range(count)
    ]
