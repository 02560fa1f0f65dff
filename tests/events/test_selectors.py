"""Every rollup-backed figure equals the same figure computed here from the raw events."""

from __future__ import annotations

import bisect
import datetime as dt
import math

import pytest
from django.core.exceptions import ValidationError

from apps.events import selectors
from apps.events.models.rollups import HIST_BOUNDS_MS, ORIGIN, STEPS
from apps.events.time_range import EventFilters, TimeRange
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

from .factories import event, random_events, store_events

DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
SENT = ("delivered", "bounced", "deferred", "rejected")


@pytest.fixture
def dataset(db):
    """~4,000 events over 30 h from 3 nodes and 3 IPs in two pools, plus a few outside every range."""
    nodes = [NodeFactory() for _ in range(3)]
    pools = [IpPoolFactory(name="transactional"), IpPoolFactory(name="bulk")]
    ips = [
        SendingIPFactory(address="198.51.100.1", node=nodes[0], pool=pools[0]),
        SendingIPFactory(address="198.51.100.2", node=nodes[1], pool=pools[1]),
        SendingIPFactory(address="2001:db8::1", node=nodes[2], pool=pools[1]),
    ]
    addresses = [ip.address for ip in ips]
    rows = random_events(
        count=4000, start=DAY, span=dt.timedelta(hours=30), node_ids=[n.id for n in nodes], ips=addresses
    )
    rows += random_events(
        count=50, start=DAY - dt.timedelta(days=3), span=dt.timedelta(hours=1), node_ids=[nodes[0].id], ips=addresses
    )
    for i in range(0, len(rows), 900):
        store_events(rows[i : i + 900])
    return {"rows": rows, "nodes": nodes, "pools": pools, "ips": ips}


def _matching(data, time_range: TimeRange, filters: EventFilters) -> list[dict]:
    span = time_range.snapped()
    pool_ips = {ip.address for ip in data["ips"] if filters.pool is not None and ip.pool_id == filters.pool}
    return [
        r
        for r in data["rows"]
        if span.start <= r["time"] < span.end
        and (filters.node is None or r["node_id"] == filters.node)
        and (filters.ip is None or r["sending_ip"] == filters.ip)
        and (filters.pool is None or r["sending_ip"] in pool_ips)
        and (filters.from_domain is None or r["sender_domain"] == filters.from_domain)
        and (filters.to_domain is None or r["recipient_domain"] == filters.to_domain)
    ]


def _delays(rows) -> list[int]:
    return sorted(r["delay_ms"] for r in rows if r["type"] == "delivered" and r["delay_ms"] is not None)


def _hist(delays: list[int]) -> list[int]:
    counts = [0] * (len(HIST_BOUNDS_MS) + 1)
    for delay in delays:
        counts[bisect.bisect_left(HIST_BOUNDS_MS, delay)] += 1
    return counts


def _bucket_of(value: int) -> tuple[int, int]:
    i = bisect.bisect_left(HIST_BOUNDS_MS, value)
    return (HIST_BOUNDS_MS[i - 1] if i else 0, HIST_BOUNDS_MS[min(i, len(HIST_BOUNDS_MS) - 1)])


RANGES = {
    "5m": TimeRange(start=DAY + dt.timedelta(hours=3), end=DAY + dt.timedelta(hours=5)),
    "1h": TimeRange(start=DAY + dt.timedelta(hours=2), end=DAY + dt.timedelta(hours=26)),
    "1d": TimeRange(start=DAY - dt.timedelta(days=5), end=DAY + dt.timedelta(days=3)),
}


def _filter_variants(data) -> dict[str, EventFilters]:
    nodes, pools = data["nodes"], data["pools"]
    return {
        "none": EventFilters(),
        "node": EventFilters(node=nodes[1].id),
        "ip": EventFilters(ip="2001:db8::1"),
        "pool": EventFilters(pool=pools[1].id),
        "from_domain": EventFilters(from_domain="bank.example"),
        "to_domain": EventFilters(to_domain="yahoo.com"),
        "raw: node + to_domain": EventFilters(node=nodes[0].id, to_domain="gmail.com"),
        "raw: ip + from_domain": EventFilters(ip="198.51.100.1", from_domain="shop.example"),
    }


@pytest.mark.parametrize("grain", RANGES)
def test_stats_and_histogram_equal_the_raw_events(dataset, grain):
    time_range = RANGES[grain]
    assert time_range.resolution == grain
    for name, filters in _filter_variants(dataset).items():
        rows = _matching(dataset, time_range, filters)
        stats = selectors.stats(time_range=time_range, filters=filters)
        counts = {t: sum(r["type"] == t for r in rows) for t in selectors.COUNT_FIELDS}
        assert {t: stats[t] for t in counts} == counts, name
        assert stats["total"] == len(rows) > 0, name
        sent = sum(counts[t] for t in SENT)
        for t in SENT:
            assert stats[f"{t}_rate"] == pytest.approx(counts[t] / sent), name
        delays = _delays(rows)
        timing = stats["delivery_time_ms"]
        assert timing["avg"] == pytest.approx(sum(delays) / len(delays)), name
        for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            exact = delays[math.ceil(q * len(delays)) - 1]  # nearest rank
            lower, upper = _bucket_of(exact)
            assert lower <= timing[key] <= upper, (name, key, exact, timing[key])
        histogram = selectors.delivery_histogram(time_range=time_range, filters=filters)
        assert [b["count"] for b in histogram["buckets"]] == _hist(delays), name
        assert histogram["total"] == len(delays)
        assert histogram["buckets"][-1]["le_ms"] is None


@pytest.mark.parametrize("grain", RANGES)
def test_throughput_equals_the_raw_events(dataset, grain):
    time_range = RANGES[grain]
    step = STEPS[grain]
    for name, filters in _filter_variants(dataset).items():
        rows = _matching(dataset, time_range, filters)
        result = selectors.throughput(time_range=time_range, filters=filters, group_by="type")
        buckets = [dt.datetime.fromisoformat(b) for b in result["buckets"]]
        assert buckets == [time_range.snapped().start + i * step for i in range(len(buckets))]
        assert buckets[-1] + step == time_range.snapped().end
        for t, series in result["series"].items():
            expected = [0] * len(buckets)
            for r in rows:
                if r["type"] == t:
                    expected[buckets.index(ORIGIN + (r["time"] - ORIGIN) // step * step)] += 1
            assert series == expected, (name, t)
        by_domain = selectors.throughput(time_range=time_range, filters=filters, group_by="to_domain")
        for domain, series in by_domain["series"].items():
            assert sum(series) == sum(r["recipient_domain"] == domain for r in rows), (name, domain)


def test_throughput_by_node_names_hosts_and_keeps_ten_series_plus_other(dataset):
    time_range = RANGES["1h"]
    by_node = selectors.throughput(time_range=time_range, filters=EventFilters(), group_by="node")
    rows = _matching(dataset, time_range, EventFilters())
    for node in dataset["nodes"]:
        assert sum(by_node["series"][node.hostname]) == sum(r["node_id"] == node.id for r in rows)
    many = [event(time=DAY + dt.timedelta(hours=4), node_id=dataset["nodes"][0].id, recipient_domain=f"d{i}.example")
            for i in range(14)]  # fmt: skip
    store_events(many)
    by_domain = selectors.throughput(time_range=time_range, filters=EventFilters(), group_by="to_domain")
    assert len(by_domain["series"]) == 11 and "other" in by_domain["series"]
    assert sum(map(sum, by_domain["series"].values())) == len(rows) + 14
    # node + sender domain: no rollup holds both, so the raw events answer, with the same shape
    raw_filters = EventFilters(node=dataset["nodes"][0].id, from_domain="shop.example")
    raw = selectors.throughput(time_range=time_range, filters=raw_filters, group_by="to_domain")
    assert len(raw["series"]) == 11 and "other" in raw["series"]
    expected = len(_matching(dataset, time_range, raw_filters)) + 14
    assert sum(map(sum, raw["series"].values())) == expected
    assert raw["series"]["gmail.com"] == [
        sum(r["recipient_domain"] == "gmail.com" and r["time"] >= b and r["time"] < b + dt.timedelta(hours=1)
            for r in _matching(dataset, time_range, raw_filters))
        for b in map(dt.datetime.fromisoformat, raw["buckets"])
    ]  # fmt: skip


@pytest.mark.parametrize("grain", RANGES)
def test_bounce_analysis_and_deferred_reasons_equal_the_raw_events(dataset, grain):
    time_range = RANGES[grain]
    for name, filters in _filter_variants(dataset).items():
        rows = _matching(dataset, time_range, filters)
        bounced = [r for r in rows if r["type"] in ("bounced", "rejected")]
        analysis = selectors.bounce_analysis(time_range=time_range, filters=filters)
        assert analysis["total"] == len(bounced), name
        for entry in analysis["by_category"]:
            n = sum(r["bounce_category"] == entry["category"] for r in bounced)
            assert entry["count"] == n and entry["percent"] == pytest.approx(100 * n / len(bounced), abs=0.01)
        for entry in analysis["by_code"]:
            n = sum((r["status_code"], r["enhanced_status"]) == (entry["status_code"], entry["enhanced_status"])
                    for r in bounced)  # fmt: skip
            assert entry["count"] == n, name
        assert sum(e["count"] for e in analysis["by_code"]) == len(bounced)

        deferred = [r for r in rows if r["type"] == "deferred"]
        reasons = selectors.deferred_reasons(time_range=time_range, filters=filters)
        assert reasons["total"] == len(deferred), name
        for entry in reasons["reasons"]:
            same = [r for r in deferred if (r["bounce_category"], r["enhanced_status"]) == (entry["category"], entry["enhanced_status"])]  # noqa: E501
            assert entry["count"] == len(same), name
            assert entry["sample_response"] in {r["response"] for r in same}
        assert sum(e["count"] for e in reasons["reasons"]) == len(deferred)


@pytest.mark.parametrize("grain", RANGES)
def test_stats_by_node_and_ip_equal_the_raw_events(dataset, grain):
    time_range = RANGES[grain]
    filters = EventFilters(pool=dataset["pools"][1].id)
    rows = _matching(dataset, time_range, filters)
    for group_by, key in (("node", lambda r: str(r["node_id"])), ("ip", lambda r: r["sending_ip"] or "")):
        by_key = selectors.stats_by(time_range=time_range, filters=filters, group_by=group_by)
        keys = {key(r) for r in rows}
        assert set(by_key) == keys and keys, group_by
        for k, stats in by_key.items():
            mine = [r for r in rows if key(r) == k]
            assert {t: stats[t] for t in SENT} == {t: sum(r["type"] == t for r in mine) for t in SENT}, (group_by, k)
            delays = _delays(mine)
            assert stats["delivery_time_ms"]["avg"] == (pytest.approx(sum(delays) / len(delays)) if delays else None)
    one = selectors.stats(time_range=time_range, filters=EventFilters(pool=filters.pool, node=dataset["nodes"][1].id))
    assert selectors.stats_by(time_range=time_range, filters=filters, group_by="node")[
        str(dataset["nodes"][1].id)] == one  # the same figures as one node's stats


def test_stats_by_refuses_an_unknown_grouping(db):
    with pytest.raises(ValidationError) as error:
        selectors.stats_by(time_range=RANGES["1h"], filters=EventFilters(), group_by="type")
    assert "group_by" in error.value.message_dict


@pytest.mark.parametrize("grain", RANGES)
def test_deferred_reasons_by_domain_equal_the_raw_events(dataset, grain):
    time_range = RANGES[grain]
    variants = {"rollup": EventFilters(), "raw: node": EventFilters(node=dataset["nodes"][0].id)}
    for name, filters in variants.items():
        deferred = [r for r in _matching(dataset, time_range, filters) if r["type"] == "deferred"]
        domains = sorted({r["recipient_domain"] for r in deferred})
        reasons = selectors.deferred_reasons_by_domain(time_range=time_range, filters=filters,
                                                       domains=[*domains, "nowhere.example"], limit=2)
        assert sorted(reasons) == domains and domains, name
        for domain, top in reasons.items():
            mine = [r for r in deferred if r["recipient_domain"] == domain]
            counts: dict[tuple[str, str], int] = {}
            for r in mine:
                counts[(r["bounce_category"], r["enhanced_status"])] = counts.get((r["bounce_category"],
                                                                                  r["enhanced_status"]), 0) + 1
            expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:2]
            assert [((e["category"], e["enhanced_status"]), e["count"]) for e in top] == expected, (name, domain)
            assert top[0]["percent"] == pytest.approx(100 * expected[0][1] / len(mine), abs=0.01)


@pytest.mark.parametrize("grain", RANGES)
def test_destinations_equal_the_raw_events(dataset, grain):
    time_range = RANGES[grain]
    for name, filters in _filter_variants(dataset).items():
        rows = _matching(dataset, time_range, filters)
        result = selectors.destinations(time_range=time_range, filters=filters, page_size=100)
        domains = {r["recipient_domain"] for r in rows if r["type"] in SENT}
        assert result["count"] == len(domains) == len(result["results"]), name
        for entry in result["results"]:
            mine = [r for r in rows if r["recipient_domain"] == entry["domain"]]
            counts = {t: sum(r["type"] == t for r in mine) for t in SENT}
            assert {t: entry[t] for t in SENT} == counts
            assert entry["sent"] == sum(counts.values())
            assert entry["delivery_rate"] == pytest.approx(counts["delivered"] / entry["sent"])
            delays = _delays(mine)
            if delays:
                assert entry["avg_delivery_ms"] == pytest.approx(sum(delays) / len(delays))
                lower, upper = _bucket_of(delays[math.ceil(0.95 * len(delays)) - 1])
                assert lower <= entry["p95_delivery_ms"] <= upper
        sents = [e["sent"] for e in result["results"]]
        assert sents == sorted(sents, reverse=True)


def test_destinations_sort_and_paginate(dataset):
    time_range = RANGES["1h"]
    everything = selectors.destinations(time_range=time_range, filters=EventFilters(), sort="domain", page_size=100)
    names = [e["domain"] for e in everything["results"]]
    assert names == sorted(names)
    second = selectors.destinations(time_range=time_range, filters=EventFilters(), sort="domain", page=2, page_size=2)
    assert [e["domain"] for e in second["results"]] == names[2:4]
    assert second["count"] == len(names)
    by_p95 = selectors.destinations(time_range=time_range, filters=EventFilters(), sort="-p95_delivery_ms")
    p95s = [e["p95_delivery_ms"] for e in by_p95["results"]]
    assert p95s == sorted(p95s, reverse=True)
    beyond = selectors.destinations(time_range=time_range, filters=EventFilters(), page=50)
    assert beyond["results"] == [] and beyond["count"] == len(names)
    with pytest.raises(ValidationError) as error:
        selectors.destinations(time_range=time_range, filters=EventFilters(), sort="-nope")
    assert "sort" in error.value.message_dict


def test_a_resent_batch_changes_no_figure(dataset):
    time_range = RANGES["1h"]
    before = selectors.stats(time_range=time_range, filters=EventFilters())
    assert store_events(dataset["rows"][:500]) == 0
    assert selectors.stats(time_range=time_range, filters=EventFilters()) == before


def test_empty_ranges_answer_zeros_and_nones(db):
    time_range = TimeRange(start=DAY, end=DAY + dt.timedelta(hours=1))
    stats = selectors.stats(time_range=time_range, filters=EventFilters())
    assert stats["total"] == 0 and stats["delivered_rate"] is None
    assert stats["delivery_time_ms"] == {"avg": None, "p50": None, "p95": None, "p99": None}
    assert selectors.throughput(time_range=time_range, filters=EventFilters())["series"]["delivered"] == [0] * 12
    assert selectors.destinations(time_range=time_range, filters=EventFilters())["count"] == 0


# --- Time ranges and resolution ---

NOW = dt.datetime(2026, 11, 25, 12, 7, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("preset", "resolution"), [("1h", "5m"), ("6h", "1h"), ("24h", "1h"), ("7d", "1h"), ("30d", "1d")]
)
def test_presets_choose_the_resolution(preset, resolution):
    time_range = TimeRange.parse(range=preset, start=None, end=None, now=NOW)
    assert time_range.end == NOW and time_range.resolution == resolution


def test_custom_ranges_choose_the_resolution_by_length():
    def res(hours: float) -> str:
        return TimeRange(start=NOW - dt.timedelta(hours=hours), end=NOW).resolution

    assert (res(5.99), res(6), res(24 * 7), res(24 * 7 + 0.1)) == ("5m", "1h", "1h", "1d")


def test_custom_range_parses_rfc3339_and_defaults_to_24h():
    parsed = TimeRange.parse(range=None, start="2026-11-25T10:00:00Z", end="2026-11-25T12:00:00+01:00", now=NOW)
    hour = dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)
    assert parsed == TimeRange(start=hour, end=hour + dt.timedelta(hours=1))
    assert TimeRange.parse(range=None, start=None, end=None, now=NOW).start == NOW - dt.timedelta(hours=24)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"range": "2w"}, "range"),
        ({"start": "yesterday"}, "from"),
        ({"start": "2026-11-25T10:00:00"}, "from"),
        ({"start": "2026-11-25T10:00:00Z", "end": "2026-11-25T09:00:00Z"}, "to"),
        ({"end": "2026-11-25T09:00:00Z"}, "from"),
        ({"range": "1h", "start": "2026-11-25T10:00:00Z"}, "range"),
    ],
)
def test_bad_ranges_name_the_field(kwargs, field):
    with pytest.raises(ValidationError) as error:
        TimeRange.parse(**{"range": None, "start": None, "end": None, **kwargs}, now=NOW)
    assert field in error.value.message_dict


def test_snapping_widens_to_whole_buckets():
    time_range = TimeRange(start=NOW - dt.timedelta(hours=24), end=NOW)
    snapped = time_range.snapped()
    assert snapped.start == dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    assert snapped.end == dt.datetime(2026, 11, 25, 13, tzinfo=dt.UTC)
    assert len(time_range.buckets()) == 25
