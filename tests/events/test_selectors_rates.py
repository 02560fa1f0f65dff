"""Recent outcome rates (selectors_rates) and delivery time per bucket, against stored events."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.events import selectors, selectors_rates
from apps.events.time_range import EventFilters, TimeRange
from tests.events.factories import event, store_events
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 25, 12, 7, tzinfo=dt.UTC)
WINDOW = dt.timedelta(minutes=15)


def test_rates_per_node_ip_and_domain_count_only_the_window():
    a, b = NodeFactory(), NodeFactory()
    t = NOW - dt.timedelta(minutes=4)
    rows = [event(time=t, node_id=a.pk, sending_ip="192.0.2.1") for _ in range(6)]
    rows += [event(time=t, node_id=a.pk, sending_ip="192.0.2.1", type="deferred", enhanced_status="4.7.28",
                   status_code=421) for _ in range(3)]  # fmt: skip
    rows += [event(time=t, node_id=b.pk, sending_ip="192.0.2.2", type="bounced", enhanced_status="5.1.1",
                   status_code=550, recipient_domain="yahoo.com")]  # fmt: skip
    rows += [event(time=NOW - dt.timedelta(minutes=40), node_id=a.pk, sending_ip="192.0.2.1") for _ in range(50)]
    store_events(rows)
    rates = selectors_rates.recent_rates(now=NOW, window=WINDOW)
    assert rates.start == dt.datetime(2026, 11, 25, 11, 50, tzinfo=dt.UTC)  # the bucket holding now - 15 min
    node_a = rates.by_node[a.pk]
    assert (node_a.sent, node_a.delivered, node_a.deferred, node_a.bounced) == (9, 6, 3, 0)
    (cause,) = node_a.causes
    assert (cause.type, cause.code, cause.count, cause.of, cause.domain) == ("deferred", "4.7.28", 3, 9, "gmail.com")
    assert rates.by_ip["192.0.2.2"].bounced == 1 and rates.by_ip["192.0.2.2"].causes[0].code == "5.1.1"
    assert rates.by_ip_node == {"192.0.2.1": a.pk, "192.0.2.2": b.pk}
    assert rates.by_domain["gmail.com"].sent == 9 and rates.by_domain["yahoo.com"].bounced == 1
    assert set(selectors_rates.recent_rates(now=NOW, window=WINDOW, min_sent=5).by_domain) == {"gmail.com"}


def test_an_empty_window_has_no_rates():
    rates = selectors_rates.recent_rates(now=NOW, window=WINDOW)
    assert rates.by_node == {} and rates.by_ip == {} and rates.by_domain == {}


def test_flow_summary_sets_the_last_hour_against_the_same_hour_last_week():
    node = NodeFactory()
    store_events([event(time=NOW - dt.timedelta(minutes=10), node_id=node.pk) for _ in range(4)]
                 + [event(time=NOW - dt.timedelta(days=7, minutes=10), node_id=node.pk, type="bounced")])
    summary = selectors_rates.flow_summary(now=NOW)
    assert summary["now"]["sent"] == 4 and summary["now"]["delivered_rate"] == 1.0
    assert summary["week_ago"]["sent"] == 1 and summary["week_ago"]["bounced_rate"] == 1.0


def test_delivery_time_per_bucket_gives_percentiles_and_gaps():
    node = NodeFactory()
    start = dt.datetime(2026, 11, 25, 11, 0, tzinfo=dt.UTC)
    store_events([event(time=start + dt.timedelta(minutes=2), node_id=node.pk, delay_ms=800) for _ in range(10)])
    data = selectors.delivery_time_series(time_range=TimeRange(start=start, end=start + dt.timedelta(minutes=15)),
                                          filters=EventFilters())
    assert data["resolution"] == "5m" and len(data["buckets"]) == 3
    assert 750 < data["series"]["p50"][0] <= 1000 and data["series"]["p99"][0] <= 1000
    assert data["series"]["p95"][1:] == [None, None]  # nothing delivered: a gap, not zero
