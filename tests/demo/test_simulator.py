"""The demo traffic generator (apps.demo.simulator): pure functions, no database."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from apps.demo import simulator
from apps.demo.simulator import (
    Fleet,
    FleetNode,
    Incident,
    NodeMetricsModel,
    OutboundNode,
    SendingAddress,
    Traffic,
    diurnal_factor,
    domain_catalogue,
    incident_schedule,
)
from apps.events.classification import classify
from apps.events.wire import parse_batch

DAY_START = datetime(2026, 11, 24, tzinfo=UTC).timestamp()
HOUR = 3600.0


def _fleet() -> Fleet:
    """The demo fleet's shape: a /24 and a /26 on two ZoneMTAs, a Postfix relay, other roles."""
    mta1 = tuple(SendingAddress(f"198.51.100.{i}", ("marketing", "general")[i % 2]) for i in range(256))
    mta2 = tuple(SendingAddress(f"203.0.113.{i}", ("transactional", "notifications")[i % 2]) for i in range(64))
    outbound = (
        OutboundNode("mta-out-1", "zonemta-outbound", mta1),
        OutboundNode("mta-out-2", "zonemta-outbound", mta2),
        OutboundNode("relay-1", "postfix", (SendingAddress("192.0.2.13"),)),
    )
    others = (FleetNode("mx-in-1", "haraka"), FleetNode("mongo-1", "mongodb"), FleetNode("rspamd-1", "rspamd"))
    return Fleet(outbound=outbound, nodes=(*(FleetNode(n.hostname, n.role) for n in outbound), *others))


FLEET = _fleet()


def _generate(*, start: float, seconds: float, rate: float = 50.0, seed: int = 7, incidents=None) -> list[dict]:
    traffic = Traffic(fleet=FLEET, seed=seed, rate=rate, start=start, run_id="t", incidents=incidents)
    events = []
    for minute in range(int(seconds // 60)):
        events += traffic.advance(start + 60 * (minute + 1))
    return events


@pytest.fixture(scope="module")
def afternoon() -> list[dict]:
    """One peak hour (14:00-15:00 UTC) at a mean of 30 events/s, without incidents."""
    return _generate(start=DAY_START + 14 * HOUR, seconds=HOUR, rate=30, incidents=[])


def _provider_of() -> dict[str, str]:
    domains, _ = domain_catalogue(7)
    return {d.name: d.provider for d in domains}


def _provider(event: dict, provider_of: dict[str, str]) -> str:
    return provider_of[event["to"].rpartition("@")[2]]


def _messages(events: list[dict]) -> dict[str, list[dict]]:
    by_message = defaultdict(list)
    for event in events:
        by_message[event["message_id"]].append(event)
    return by_message


def test_recipient_mix_has_provider_shares_and_a_long_corporate_tail(afternoon):
    provider_of = _provider_of()
    queued = [e for e in afternoon if e["type"] == "queued"]
    shares = Counter(provider_of[e["to"].rpartition("@")[2]] for e in queued)
    total = sum(shares.values())
    for provider in simulator.PROVIDERS:
        assert shares[provider.name] / total == pytest.approx(provider.share, abs=0.015), provider.name
    assert shares["corporate"] / total == pytest.approx(simulator.CORPORATE_SHARE, abs=0.015)
    corporate = Counter(e["to"].rpartition("@")[2] for e in queued if _provider(e, provider_of) == "corporate")
    assert len(corporate) > 250  # a long tail, not a handful of domains
    assert 0.01 < corporate.most_common(1)[0][1] / total < 0.03  # Zipf: a few big customers
    microsoft = {e["to"].rpartition("@")[2] for e in queued if _provider(e, provider_of) == "microsoft"}
    assert {"outlook.com", "hotmail.com", "live.com"} <= microsoft


def test_every_generated_event_is_valid_wire_format_with_a_unique_event_id(afternoon):
    parsed = parse_batch(json.dumps(afternoon).encode(), max_events=len(afternoon))
    assert parsed.rejected == []
    assert len(parsed.events) == len(afternoon) > 50_000
    assert len({e["event_id"] for e in afternoon}) == len(afternoon)
    assert all(e["sending_ip"] for e in afternoon)


def test_events_come_out_in_time_order_and_never_in_the_future():
    start = DAY_START + 10 * HOUR
    traffic = Traffic(fleet=FLEET, seed=3, rate=30, start=start, run_id="t", incidents=[])
    for step in range(1, 30):
        until = start + step * 20
        times = [e["time"] for e in traffic.advance(until)]
        assert times == sorted(times)
        assert all(datetime.fromisoformat(t).timestamp() < until for t in times)


def test_diurnal_curve_peaks_in_the_afternoon_and_bottoms_at_night():
    hourly = [diurnal_factor(DAY_START + h * HOUR) for h in range(24)]
    assert 13 <= hourly.index(max(hourly)) <= 17
    assert 1 <= hourly.index(min(hourly)) <= 5
    assert statistics.fmean(diurnal_factor(DAY_START + m * 60) for m in range(1440)) == pytest.approx(1.0, abs=1e-9)
    assert max(hourly) / min(hourly) > 3


def test_event_rate_follows_the_requested_mean_times_the_diurnal_curve(afternoon):
    night = _generate(start=DAY_START + 3 * HOUR, seconds=HOUR, rate=30, incidents=[])
    for events, hour in ((afternoon, 14.5), (night, 3.5)):
        expected = 30.0 * diurnal_factor(DAY_START + hour * HOUR)
        assert len(events) / HOUR == pytest.approx(expected, rel=0.05)
    assert len(afternoon) > 3 * len(night)


def test_same_seed_gives_the_same_traffic_and_another_seed_differs():
    start = DAY_START + 9 * HOUR
    first = _generate(start=start, seconds=600, seed=11)
    assert first == _generate(start=start, seconds=600, seed=11)
    assert first != _generate(start=start, seconds=600, seed=12)


def test_every_message_is_queued_first_and_ends_delivered_or_bounced(afternoon):
    end = DAY_START + 15 * HOUR
    finished = 0
    for steps in _messages(afternoon).values():
        kinds = [e["type"] for e in steps]
        if kinds == ["rejected"]:
            continue
        assert kinds[0] == "queued"
        assert set(kinds[1:-1]) <= {"deferred", "delivered", "bounced"}
        assert kinds.count("delivered") + kinds.count("bounced") <= 1
        if kinds[-1] in ("delivered", "bounced", "complained"):
            finished += 1
            assert "deferred" not in kinds[kinds.index("delivered" if "delivered" in kinds else "bounced") :]
        else:  # still deferred: its retry falls after the window
            assert kinds[-1] in ("queued", "deferred")
            assert datetime.fromisoformat(steps[-1]["time"]).timestamp() > end - 45 * 60
    assert finished / len(_messages(afternoon)) > 0.95


def test_deferred_messages_retry_minutes_later_and_mostly_get_delivered(afternoon):
    outcomes = Counter()
    for steps in _messages(afternoon).values():
        kinds = [e["type"] for e in steps]
        if "deferred" not in kinds or kinds[-1] not in ("delivered", "bounced"):
            continue
        times = [datetime.fromisoformat(e["time"]).timestamp() for e in steps]
        gaps = [b - a for a, b, kind in zip(times[1:], times[2:], kinds[1:], strict=False) if kind == "deferred"]
        assert all(gap >= 4.5 * 60 for gap in gaps)
        assert steps[-1]["delay_ms"] >= 4.5 * 60 * 1000
        outcomes[kinds[-1]] += 1
    assert outcomes["delivered"] > 4 * outcomes["bounced"] > 0


def test_delays_are_log_normal_per_provider(afternoon):
    provider_of = _provider_of()
    delays = defaultdict(list)
    for event in afternoon:
        if event["type"] == "delivered" and event["delay_ms"] < 60_000:  # first-attempt deliveries
            delays[provider_of[event["to"].rpartition("@")[2]]].append(event["delay_ms"])
    medians = {p: statistics.median(d) for p, d in delays.items()}
    assert medians["gmail"] == pytest.approx(900, rel=0.1)
    assert medians["gmail"] < medians["yahoo"] < medians["microsoft"] < medians["corporate"]
    gmail = sorted(delays["gmail"])
    assert gmail[int(len(gmail) * 0.99)] > 3 * medians["gmail"]  # a long right tail


def test_provider_responses_look_like_the_real_ones(afternoon):
    provider_of = _provider_of()
    texts = defaultdict(set)
    for event in afternoon:
        if event["type"] in ("delivered", "bounced", "deferred"):
            provider = provider_of[event["to"].rpartition("@")[2]]
            texts[(provider, event["type"])].add(event["response"].split(" ")[0])
            if event.get("status_code") is not None:
                assert event["response"].startswith(str(event["status_code"]))
    assert texts[("gmail", "delivered")] == {"250"}
    assert {"550-5.1.1"} <= texts[("gmail", "bounced")]
    assert {"421-4.7.28", "452-4.2.2"} <= texts[("gmail", "deferred")]
    gmail_ok = next(e for e in afternoon if e["type"] == "delivered" and e["to"].endswith("@gmail.com"))
    assert gmail_ok["response"].startswith("250 2.0.0 OK ") and gmail_ok["response"].endswith(" - gsmtp")
    yahoo_deferrals = [
        e["response"] for e in afternoon if e["type"] == "deferred" and _provider(e, provider_of) == "yahoo"
    ]
    assert any(r.startswith("421 4.7.0 [TSS04]") for r in yahoo_deferrals)


def test_failures_classify_as_failures_and_mostly_into_named_categories(afternoon):
    categories = Counter()
    for event in afternoon:
        if event["type"] in ("bounced", "deferred", "rejected"):
            category = classify(event.get("status_code"), event.get("enhanced_status"), event.get("response"))
            assert category != "", event["response"]
            categories[category] += 1
        elif event["type"] == "delivered":
            assert classify(event.get("status_code"), event.get("enhanced_status"), event.get("response")) == ""
    assert categories["other"] / sum(categories.values()) < 0.1
    assert {"invalid_recipient", "mailbox_full", "rate_limited", "spam_block", "policy"} <= set(categories)


def test_a_throttling_incident_defers_that_provider_on_that_node_only():
    start = DAY_START + 14 * HOUR
    incident = Incident("throttle", start + 1200, start + 1800, node="mta-out-1", provider="gmail")
    events = _generate(start=start, seconds=2400, rate=15, incidents=[incident])
    provider_of = _provider_of()
    messages = _messages(events)

    def first_attempts(node: str, inside: bool) -> Counter:
        outcome = Counter()
        for steps in messages.values():
            if steps[0]["node"] != node or _provider(steps[0], provider_of) != "gmail" or len(steps) < 2:
                continue
            moment = datetime.fromisoformat(steps[1]["time"]).timestamp()
            if incident.active(moment) == inside:
                outcome[steps[1]["type"], steps[1].get("enhanced_status")] += 1
        return outcome

    during, before = first_attempts("mta-out-1", True), first_attempts("mta-out-1", False)
    throttled = during["deferred", "4.7.28"] / sum(during.values())
    assert throttled > 0.6
    assert before["deferred", "4.7.28"] / sum(before.values()) < 0.05
    other_node = first_attempts("mta-out-2", True)
    assert other_node["deferred", "4.7.28"] / sum(other_node.values()) < 0.05
    sample = next(e for e in events if e["type"] == "deferred" and e.get("enhanced_status") == "4.7.28")
    assert sample["response"].startswith("421-4.7.28")
    assert classify(sample["status_code"], sample["enhanced_status"], sample["response"]) == "rate_limited"


def test_the_queue_follows_the_deferrals_of_a_throttling_incident():
    start = DAY_START + 14 * HOUR
    incident = Incident("throttle", start + 1200, start + 1800, node="mta-out-1", provider="gmail")
    traffic = Traffic(fleet=FLEET, seed=5, rate=20, start=start, run_id="q", incidents=[incident])
    sizes = {}
    for minute in range(1, 46):
        traffic.advance(start + minute * 60)
        sizes[minute] = dict(traffic.queue)
    assert sizes[30]["mta-out-1"] > 3 * sizes[19]["mta-out-1"]
    assert sizes[30]["mta-out-2"] < 2 * sizes[19]["mta-out-2"]
    assert all(size >= 0 for snapshot in sizes.values() for size in snapshot.values())


def test_a_blocklisted_ip_bounces_with_blocklist_texts():
    start = DAY_START + 14 * HOUR
    ip = simulator.busy_ips(FLEET)[0]
    incident = Incident("blocklist", start, start + HOUR, ip=ip)
    events = _generate(start=start, seconds=HOUR, rate=15, incidents=[incident])
    from_ip = [e for e in events if e["sending_ip"] == ip and e["type"] in ("delivered", "bounced")]
    bounced = [e for e in from_ip if e["type"] == "bounced"]
    assert len(bounced) / len(from_ip) > 0.5
    assert any("(S3150)" in e["response"] for e in bounced)
    assert any("zen.spamhaus.org" in e["response"] for e in bounced)
    spam = Counter(classify(e.get("status_code"), e.get("enhanced_status"), e["response"]) for e in bounced)
    assert spam["spam_block"] / len(bounced) > 0.8
    others = [e for e in events if e["sending_ip"] != ip and e["type"] in ("delivered", "bounced")]
    assert sum(e["type"] == "bounced" for e in others) / len(others) < 0.05


def test_incident_schedule_is_the_same_whatever_the_window():
    day = incident_schedule(seed=4, start=DAY_START, end=DAY_START + 24 * HOUR, fleet=FLEET)
    pieces = set()
    for hour in range(24):
        start = DAY_START + hour * HOUR
        pieces |= set(incident_schedule(seed=4, start=start, end=start + HOUR, fleet=FLEET))
    assert set(day) == pieces
    kinds = Counter(i.kind for i in day)
    assert kinds["throttle"] >= 5 and kinds["blocklist"] >= 1
    for incident in day:
        assert 150 <= incident.end - incident.start <= 2400
        if incident.kind == "blocklist":
            assert incident.ip in simulator.busy_ips(FLEET)


def test_accounts_use_ips_of_their_pool_and_the_relay_its_own_address(afternoon):
    pool_of = {a.address: a.pool for n in FLEET.outbound for a in n.ips}
    pools = {a.name: a.pool for a in simulator.ACCOUNTS}
    for event in afternoon:
        pool = pool_of[event["sending_ip"]]
        assert pool is None or pool == pools[event["account"]]
    relay = sum(e["node"] == "relay-1" for e in afternoon) / len(afternoon)
    assert 0.01 < relay < 0.2


def test_node_metrics_are_valid_reports_with_growing_network_counters():
    from apps.nodes.api import NodeMetricsIngestApi

    model = NodeMetricsModel(seed=1)
    previous = {}
    for tick in range(4):
        moment = DAY_START + 15 * HOUR + tick * 15
        for node in FLEET.nodes:
            queue = 40 + tick if node.role in simulator.OUTBOUND_ROLES else None
            report = model.sample(node, moment, queue_size=queue)
            serializer = NodeMetricsIngestApi.InputSerializer(data=report)
            assert serializer.is_valid(), serializer.errors
            assert report.get("queue_size") == queue
            assert all(report["services"].values()) and report["services"]
            assert "/" in report["disks"]
            if node.hostname in previous:
                assert report["net_tx_bytes"] > previous[node.hostname]["net_tx_bytes"]
                assert report["net_rx_bytes"] > previous[node.hostname]["net_rx_bytes"]
            previous[node.hostname] = report
    busy = model.sample(FLEET.nodes[0], DAY_START + 15 * HOUR)["cpu_percent"]
    quiet = model.sample(FLEET.nodes[0], DAY_START + 3 * HOUR)["cpu_percent"]
    assert busy > quiet
