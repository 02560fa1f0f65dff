"""Node metric reads: the resolution follows the range, and buckets fold the raw rows exactly."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.events.time_range import TimeRange
from apps.nodes import selectors
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.nodes.metrics import every_15s, store_metrics

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def _range(hours: float, start: dt.datetime = T0) -> TimeRange:
    return TimeRange(start=start, end=start + dt.timedelta(hours=hours))


@pytest.mark.parametrize(
    ("hours", "resolution"),
    [(1, "1m"), (6, "1m"), (24, "5m"), (36, "5m"), (24 * 7, "30m"), (24 * 30, "2h"), (24 * 90, "1d")],
)
def test_the_resolution_gets_coarser_as_the_range_grows(hours, resolution):
    assert selectors.metric_resolution(_range(hours))[0] == resolution


def test_no_range_gives_more_than_about_430_buckets():
    for hours in (1, 6, 6.1, 36, 37, 24 * 8, 24 * 8 + 1, 24 * 31, 24 * 400):
        resolution, step = selectors.metric_resolution(_range(hours))
        assert dt.timedelta(hours=hours) / step <= 432, (hours, resolution)


def test_buckets_hold_the_mean_of_their_samples_and_the_queue_peak():
    node = NodeFactory()
    # 8 samples: 4 in 10:00-10:01, 4 in 10:01-10:02
    store_metrics(node, every_15s(T0, 8, cpu_percent=lambda i: 10.0 * i, memory_percent=50.0,
                                  queue_size=lambda i: [3, 9, 1, 2, 5, 4, 0, 7][i], load1=lambda i: i / 2))
    data = selectors.node_metrics(node=node, time_range=_range(1))
    assert data["resolution"] == "1m" and len(data["buckets"]) == 60
    assert data["buckets"][0] == T0.isoformat()
    series = data["series"]
    assert series["cpu_percent"][:3] == [15.0, 55.0, None]  # mean of 0,10,20,30 and of 40..70
    assert series["cpu_percent_max"][:2] == [30.0, 70.0]
    assert series["queue_size"][:2] == [9.0, 7.0]
    assert series["memory_percent"][:2] == [50.0, 50.0]
    assert series["load1"][:2] == [0.75, 2.75]
    assert data["samples"][:3] == [4, 4, 0]


def test_a_30_day_range_folds_into_2_hour_buckets_matching_the_raw_rows():
    node = NodeFactory()
    start = T0 - dt.timedelta(days=29)
    store_metrics(node, every_15s(start, 480 * 2, cpu_percent=lambda i: float(i % 100)))  # 4 h of samples
    data = selectors.node_metrics(node=node, time_range=TimeRange(start=start - dt.timedelta(days=1),
                                                                  end=start + dt.timedelta(days=29)))
    assert data["resolution"] == "2h"
    filled = [(b, v, n) for b, v, n in zip(data["buckets"], data["series"]["cpu_percent"],
                                           data["samples"], strict=True) if n]
    raw = [float(i % 100) for i in range(960)]
    assert [n for _, _, n in filled] == [480, 480]
    assert [v for _, v, _ in filled] == pytest.approx([sum(raw[:480]) / 480, sum(raw[480:]) / 480])
    assert filled[0][0] == start.isoformat()


def test_network_rates_come_from_counter_deltas_and_skip_a_counter_reset():
    node = NodeFactory()
    rx = [0, 15_000, 30_000, 45_000, 100, 15_100, 30_100, 45_100]  # 1000 B/s, reboot after the 4th sample
    store_metrics(node, every_15s(T0, 8, net_rx_bytes=lambda i: rx[i], net_tx_bytes=lambda i: 300 * i))
    series = selectors.node_metrics(node=node, time_range=_range(1))["series"]
    assert series["net_rx_bps"][:2] == [1000.0, 1000.0]
    assert series["net_tx_bps"][:2] == [20.0, 20.0]


def test_disks_and_services_become_one_series_each():
    node = NodeFactory()
    store_metrics(node, every_15s(
        T0, 8,
        disks=lambda i: {"/": {"used_percent": 40 + i}, "/var": {"used_percent": "full?"}},
        services=lambda i: {"zonemta": i != 1, "redis": i < 4},
    ))
    data = selectors.node_metrics(node=node, time_range=_range(1))
    assert data["disks"]["/"][:2] == [41.5, 45.5]
    assert data["disks"]["/var"][:2] == [None, None]  # not a number: no value, but the mount is known
    assert data["services"]["zonemta"][:3] == [0.75, 1.0, None]
    assert data["services"]["redis"][:2] == [1.0, 0.0]


def test_an_empty_range_has_buckets_and_no_values():
    data = selectors.node_metrics(node=NodeFactory(), time_range=_range(1))
    assert len(data["buckets"]) == 60
    assert all(v is None for v in data["series"]["cpu_percent"]) and data["disks"] == {} and data["services"] == {}


def test_other_nodes_rows_are_not_counted():
    mine, other = NodeFactory(), NodeFactory()
    store_metrics(other, every_15s(T0, 4, cpu_percent=99.0))
    assert selectors.node_metrics(node=mine, time_range=_range(1))["samples"][0] == 0


def test_the_latest_metric_and_ip_counts():
    node = NodeFactory()
    store_metrics(node, every_15s(T0, 3, queue_size=lambda i: i))
    SendingIPFactory(node=node, status="active")
    SendingIPFactory(node=node, status="paused")
    SendingIPFactory()
    assert selectors.node_latest_metric(node=node).queue_size == 2
    assert selectors.node_ip_counts(node=node) == {"total": 2, "active": 1, "paused": 1, "quarantined": 0,
                                                    "retired": 0}
