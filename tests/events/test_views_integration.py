"""The email pages over real stored events: rollups + selectors + pages, no fakes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.nodes.models import NodeMetric
from tests.events.factories import event, store_events
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(db):
    """A small hour of traffic on two nodes, ending a few minutes ago."""
    now = dt.datetime.now(dt.UTC)
    mx1, mx2 = NodeFactory(hostname="mx1.example.net"), NodeFactory(hostname="mx2.example.net")
    t = now - dt.timedelta(minutes=20)
    rows = [event(time=t, node_id=mx1.pk, delay_ms=800 + i) for i in range(6)]
    rows += [event(time=t, node_id=mx2.pk, delay_ms=12000, recipient_domain="yahoo.com") for _ in range(2)]
    rows += [event(time=t, node_id=mx2.pk, type="bounced", status_code=550, enhanced_status="5.1.1",
                   bounce_category="invalid_recipient", recipient_domain="yahoo.com",
                   response="550-5.1.1 The email account that you tried to reach does not exist")]
    rows += [event(time=t, node_id=mx1.pk, type="deferred", status_code=421, enhanced_status="4.7.28",
                   bounce_category="rate_limited", response="421-4.7.28 unusual rate of unsolicited mail")]
    rows += [event(time=now - dt.timedelta(days=3), node_id=mx1.pk, recipient_domain="old.example")]
    assert store_events(rows) == len(rows)
    NodeMetric.objects.create(node=mx1, time=now - dt.timedelta(minutes=2), queue_size=42)
    return {"mx1": mx1, "mx2": mx2}


def test_flow_counts_what_was_stored_in_the_range(viewer_client, stored):
    html = viewer_client.get(reverse("events-flow"), {"range": "1h"}).content.decode()
    assert 'data-counter="delivered">8<' in html and 'data-counter="bounced">1<' in html
    assert 'data-counter="deferred">1<' in html and 'data-counter="rejected">0<' in html
    assert 'data-plotly="fig-throughput"' in html and "mx2.example.net" in html


def test_flow_filtered_by_node(viewer_client, stored):
    html = viewer_client.get(reverse("events-flow"), {"range": "1h", "node": stored["mx2"].pk}).content.decode()
    assert 'data-counter="delivered">2<' in html and 'data-counter="deferred">0<' in html


def test_performance_colours_the_slow_tail(viewer_client, stored):
    html = viewer_client.get(reverse("events-performance"), {"range": "1h"}).content.decode()
    assert 'data-plotly="fig-percentiles"' in html and 'data-plotly="fig-histogram"' in html
    assert 'data-plotly="fig-delivery-time"' in html
    assert "#d64545" in html  # p99 of 12 s is red


def test_queue_and_deferred_reasons(viewer_client, stored):
    html = viewer_client.get(reverse("events-queue"), {"range": "1h"}).content.decode()
    assert 'id="queue-total">42<' in html and 'data-plotly="fig-queue"' in html
    assert "421-4.7.28 unusual rate" in html


def test_bounce_drill_down_lists_the_bounced_event(viewer_client, stored):
    html = viewer_client.get(reverse("events-bounces"), {"range": "1h"}).content.decode()
    link = "/events/search/?range=1h&amp;type=bounced&amp;type=rejected&amp;category=invalid_recipient"
    assert link in html
    listing = viewer_client.get(link.replace("&amp;", "&")).content.decode()
    assert listing.count('<span class="badge ev-bounced">') == 1 and "550-5.1.1" in listing
    assert "ev-delivered" not in listing


def test_destinations_sorted_by_domain_and_drill_down(viewer_client, stored):
    html = viewer_client.get(reverse("events-destinations"), {"range": "1h", "sort": "domain"}).content.decode()
    assert html.index(">gmail.com<") < html.index(">yahoo.com<") and "old.example" not in html
    listing = viewer_client.get(reverse("events-search"), {"range": "1h", "to_domain": "yahoo.com"}).content.decode()
    assert listing.count("<tr><td class=\"nowrap\">") == 3


def _older(html: str) -> str:
    """The query of the page's "older →" link (a keyset cursor)."""
    return html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")


def test_search_pages_newest_first(viewer_client, stored):
    mx1 = stored["mx1"]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=50)
    store_events([event(time=start + dt.timedelta(seconds=i), node_id=mx1.pk, recipient_domain="page.example",
                        recipient=f"r{i:03}@page.example") for i in range(60)])
    first = viewer_client.get(reverse("events-search"), {"range": "1h", "to_domain": "page.example"}).content.decode()
    assert first.index("r059@page.example") < first.index("r058@page.example")
    assert "r009@page.example" not in first and "older →" in first
    second = viewer_client.get(reverse("events-search") + _older(first)).content.decode()
    assert "r009@page.example" in second and "r000@page.example" in second and "older →" not in second


def test_search_widens_its_window_only_when_the_newest_events_do_not_fill_the_page(viewer_client, stored):
    mx1 = stored["mx1"]
    now = dt.datetime.now(dt.UTC)
    recent = [event(time=now - dt.timedelta(seconds=1 + i * 0.5), node_id=mx1.pk, recipient_domain="w.example",
                    recipient=f"new{i:02}@w.example") for i in range(55)]  # all inside the 1-minute window
    older = [event(time=now - dt.timedelta(minutes=30, seconds=i), node_id=mx1.pk, recipient_domain="w.example",
                   recipient=f"old{i:02}@w.example") for i in range(50)]
    store_events(recent + older)
    params = {"range": "1h", "to_domain": "w.example"}
    first = viewer_client.get(reverse("events-search"), params).content.decode()
    assert first.count('<tr><td class="nowrap">') == 50 and "new49@" in first and "new50@" not in first
    second = viewer_client.get(reverse("events-search") + _older(first)).content.decode()
    assert "new54@" in second and "old00@" in second and "old44@" in second and "old45@" not in second
    assert second.index("new54@") < second.index("old00@") < second.index("old44@")


def _queries(client, name: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse(name), {"range": "1h"}).status_code == 200
    return len(captured)


@pytest.mark.parametrize("name", ["events-flow", "events-performance", "events-queue", "events-bounces",
                                  "events-destinations", "events-search"])
def test_page_queries_do_not_grow_with_nodes_and_events(viewer_client, stored, name):
    """A fixed number of queries whatever the data (the selectors' own count is theirs to tune)."""
    _queries(viewer_client, name)  # the first request of a session fills caches the later ones reuse
    few = _queries(viewer_client, name)
    now = dt.datetime.now(dt.UTC)
    for node in NodeFactory.create_batch(15):
        store_events([event(time=now - dt.timedelta(minutes=9), node_id=node.pk, recipient_domain=f"d{node.pk}.test")])
        NodeMetric.objects.create(node=node, time=now - dt.timedelta(minutes=1), queue_size=3)
    assert _queries(viewer_client, name) == few <= 15
