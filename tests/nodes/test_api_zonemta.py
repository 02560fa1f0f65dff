"""The ZoneMTA cluster API (/api/v1/zonemta/nodes…) and the node page tabs that read the same selectors."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.nodes.choices import NodeRole
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.nodes.metrics import every_15s, store_metrics
from tests.pools.factories import IpPoolFactory

pytestmark = pytest.mark.django_db
API = "/api/v1/zonemta/nodes"
IP = "198.51.100.7"


def _deferred(time, node, domain, enhanced, category):
    return event(time=time, node_id=node.pk, sending_ip=IP, recipient_domain=domain, type="deferred",
                 status_code=421, enhanced_status=enhanced, bounce_category=category,
                 response=f"421 {enhanced} try later", delay_ms=None)


@pytest.fixture
def cluster():
    """mta-1 (ZoneMTA): 8 outcomes in the last hour, 2 more five hours ago; mta-2 (ZoneMTA): none;
    a Postfix node with mail of its own that no ZoneMTA figure may count."""
    mta1 = NodeFactory(hostname="mta-1.example.net", role=NodeRole.ZONEMTA)
    mta2 = NodeFactory(hostname="mta-2.example.net", role=NodeRole.ZONEMTA)
    postfix = NodeFactory(hostname="pf-1.example.net", role=NodeRole.POSTFIX)
    pool = IpPoolFactory(name="transactional")
    SendingIPFactory(address=IP, node=mta1, pool=pool, warmup_day=3, daily_limit=500)
    SendingIPFactory(address="198.51.100.8", node=mta1, pool=pool, status="paused")
    SendingIPFactory(address="198.51.100.9", node=postfix)
    now = timezone.now()
    recent, earlier = now - dt.timedelta(minutes=20), now - dt.timedelta(hours=5)
    gmail = {"node_id": mta1.pk, "sending_ip": IP, "recipient_domain": "gmail.com"}
    store_events([
        *(event(time=recent, delay_ms=ms, **gmail) for ms in (1000, 2000, 3000)),
        event(time=recent, type="bounced", status_code=550, enhanced_status="5.1.1",
              bounce_category="invalid_recipient", **gmail),
        _deferred(recent, mta1, "gmail.com", "4.7.28", "rate_limited"),
        _deferred(recent, mta1, "gmail.com", "4.7.28", "rate_limited"),
        event(time=recent, node_id=mta1.pk, sending_ip=IP, recipient_domain="outlook.com", delay_ms=1200),
        _deferred(recent, mta1, "outlook.com", "4.7.0", "spam_block"),
        *(event(time=earlier, node_id=mta1.pk, sending_ip=IP, recipient_domain="gmail.com") for _ in range(2)),
        event(time=recent, node_id=postfix.pk, sending_ip="198.51.100.9", recipient_domain="gmail.com"),
    ])  # fmt: skip
    store_metrics(mta1, every_15s(now - dt.timedelta(minutes=2), 3, queue_size=42))
    return {"mta1": mta1, "mta2": mta2, "postfix": postfix}


def test_the_node_list_has_only_zonemta_nodes_with_their_mail_queue_and_ips(viewer_client, cluster):
    body = viewer_client.get(API).json()
    assert body["count"] == 2 and [row["hostname"] for row in body["results"]] == [
        "mta-1.example.net", "mta-2.example.net",
    ]
    mta1, mta2 = body["results"]
    assert mta1["id"] == cluster["mta1"].pk and mta1["ip_count"] == 2 and mta1["queue_size"] == 42
    assert mta1["mail_1h"] == {"sent": 8, "delivered": 4, "bounced": 1, "deferred": 3, "rejected": 0}
    assert mta1["mail_24h"] == {"sent": 10, "delivered": 6, "bounced": 1, "deferred": 3, "rejected": 0}
    assert mta1["health"]["status"] in {"ok", "warning", "critical", "unknown", "maintenance"}
    assert mta2["mail_24h"]["sent"] == 0 and mta2["ip_count"] == 0 and mta2["queue_size"] is None


def test_the_node_list_pages(viewer_client, cluster):
    first = viewer_client.get(API, {"page_size": 1}).json()
    assert first["count"] == 2 and [r["hostname"] for r in first["results"]] == ["mta-1.example.net"]
    second = viewer_client.get(API, {"page_size": 1, "page": 2}).json()
    assert [r["hostname"] for r in second["results"]] == ["mta-2.example.net"]
    assert viewer_client.get(API, {"page": 3}).json()["results"] == []
    bad = viewer_client.get(API, {"page_size": 0})
    assert bad.status_code == 400 and "page_size" in bad.json()


def test_performance_has_totals_rates_delivery_time_and_series(viewer_client, cluster):
    body = viewer_client.get(f"{API}/{cluster['mta1'].pk}/performance", {"range": "1h"}).json()
    assert body["node"] == {"id": cluster["mta1"].pk, "hostname": "mta-1.example.net"}
    assert body["resolution"] == "5m"
    assert body["totals"] == {"sent": 8, "delivered": 4, "bounced": 1, "deferred": 3, "rejected": 0}
    assert body["rates"] == {"delivery": 0.5, "bounce": 0.125, "deferral": 0.375}
    assert body["delivery_time_ms"]["avg"] == pytest.approx((1000 + 2000 + 3000 + 1200) / 4)
    timing = body["delivery_time_ms"]
    assert 2000 < timing["p95"] <= timing["p99"] <= 3000  # the slowest delivery's histogram bucket
    series = body["series"]
    assert all(len(values) == len(body["buckets"]) for values in series.values())
    assert sum(series["sent"]) == 8 and sum(series["deferred"]) == 3
    busy = series["sent"].index(8)
    assert series["bounce_rate"][busy] == 0.125 and series["deferral_rate"][busy] == 0.375
    assert series["delivery_p95_ms"][busy] is not None
    assert {series["bounce_rate"][i] for i, n in enumerate(series["sent"]) if not n} == {None}


def test_performance_over_24h_counts_the_earlier_mail_too(viewer_client, cluster):
    body = viewer_client.get(f"{API}/{cluster['mta1'].pk}/performance").json()  # default 24h
    assert body["resolution"] == "1h" and body["totals"]["sent"] == 10


def test_performance_refuses_a_bad_range_naming_the_field(viewer_client, cluster):
    response = viewer_client.get(f"{API}/{cluster['mta1'].pk}/performance", {"range": "2y"})
    assert response.status_code == 400 and "range" in response.json()


def test_ips_have_status_pool_warmup_and_their_sent_and_bounce_figures(viewer_client, cluster):
    body = viewer_client.get(f"{API}/{cluster['mta1'].pk}/ips").json()
    assert body["count"] == 2
    busy, idle = body["results"]
    assert (busy["address"], busy["status"], busy["pool"], busy["version"]) == (IP, "active", "transactional", 4)
    assert (busy["warmup_day"], busy["daily_limit"]) == (3, 500)
    assert (busy["sent_1h"], busy["sent_24h"]) == (8, 10)
    assert busy["bounce_rate"] == pytest.approx(0.1)
    assert (idle["address"], idle["status"], idle["sent_24h"], idle["bounce_rate"]) == ("198.51.100.8", "paused", 0,
                                                                                        None)
    assert viewer_client.get(f"{API}/{cluster['mta1'].pk}/ips", {"page": 2, "page_size": 1}).json()["results"][0][
        "address"] == "198.51.100.8"


def test_destinations_have_outcomes_p95_and_the_top_deferral_reasons(viewer_client, cluster):
    body = viewer_client.get(f"{API}/{cluster['mta1'].pk}/destinations", {"range": "1h"}).json()
    rows = {row["domain"]: row for row in body["results"]}
    assert body["count"] == 2 and list(rows) == ["gmail.com", "outlook.com"]  # -sent first
    gmail = rows["gmail.com"]
    assert (gmail["sent"], gmail["delivered"], gmail["bounced"], gmail["deferred"]) == (6, 3, 1, 2)
    assert gmail["p95_delivery_ms"] is not None
    assert [(r["enhanced_status"], r["category"], r["count"], r["percent"]) for r in gmail["top_deferrals"]] == [
        ("4.7.28", "rate_limited", 2, 100.0)
    ]  # the Postfix node's gmail.com mail is not this node's
    assert [r["enhanced_status"] for r in rows["outlook.com"]["top_deferrals"]] == ["4.7.0"]
    by_domain = viewer_client.get(f"{API}/{cluster['mta1'].pk}/destinations",
                                  {"range": "1h", "sort": "domain", "page_size": 1, "page": 2}).json()
    assert [r["domain"] for r in by_domain["results"]] == ["outlook.com"] and by_domain["count"] == 2


@pytest.mark.parametrize("suffix", ["performance", "ips", "destinations"])
def test_unknown_and_non_zonemta_nodes_are_404_saying_which(viewer_client, cluster, suffix):
    unknown = viewer_client.get(f"{API}/999999/{suffix}")
    assert unknown.status_code == 404 and unknown.json()["detail"] == "No node 999999."
    postfix = cluster["postfix"]
    other = viewer_client.get(f"{API}/{postfix.pk}/{suffix}")
    assert other.status_code == 404
    assert other.json()["detail"] == f"Node {postfix.pk} (pf-1.example.net) is not a ZoneMTA node (role postfix)."
    assert viewer_client.get(f"{API}/99999999999999999999/{suffix}").status_code == 404


def test_the_cluster_api_needs_a_login(client, cluster):
    assert client.get(API).status_code in (401, 403)
    assert client.get(f"{API}/{cluster['mta1'].pk}/ips").status_code in (401, 403)


# --- The node page's tabs read the same selectors ---


def _tab(client, node, tab: str, **query):
    return client.get(f"/nodes/{node.hostname}/", {"tab": tab, **query})


def test_the_performance_tab_shows_deferral_rate_percentiles_and_the_delivery_time_chart(viewer_client, cluster):
    response = _tab(viewer_client, cluster["mta1"], "performance", range="1h")
    html = response.content.decode()
    assert 'data-stat="deferral-rate">37.5 %' in html and 'data-stat="bounce-rate">12.5 %' in html
    assert 'data-stat="avg">1800 ms' in html
    assert 'id="fig-delivery-time"' in html and 'id="fig-bounce-rate"' in html and 'id="fig-throughput"' in html


def test_the_ips_tab_shows_each_ips_sent_and_bounce_figures(viewer_client, cluster):
    html = _tab(viewer_client, cluster["mta1"], "ips").content.decode()
    row = html[html.index(f'data-ip="{IP}"'):]
    row = row[: row.index("</tr>")]
    assert 'data-stat="sent-24h">10<' in row and 'data-stat="bounce">10.0 %<' in row and "3" in row
    assert "198.51.100.9" not in html  # the Postfix node's


def test_the_destinations_tab_shows_the_top_deferral_reasons(viewer_client, cluster):
    html = _tab(viewer_client, cluster["mta1"], "destinations", range="1h").content.decode()
    row = html[html.index('data-domain="gmail.com"'):]
    row = row[: row.index("</tr>")]
    assert "4.7.28 Rate limited / throttled ×2" in row


def test_tabs_of_a_zonemta_node_without_mail_are_honestly_empty(viewer_client, cluster):
    mta2 = cluster["mta2"]
    assert "No mail sent from this node in this range." in _tab(viewer_client, mta2, "destinations").content.decode()
    assert "No sending IPs are assigned to this node." in _tab(viewer_client, mta2, "ips").content.decode()
    performance = _tab(viewer_client, mta2, "performance").content.decode()
    assert "No deliveries in this range." in performance and 'data-stat="deferral-rate">—' in performance
