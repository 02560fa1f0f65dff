"""Email pages: rendering with data and empty, permissions, bad parameters, htmx partials, query counts.

The query layer is replaced here by literal dicts in the shape of the selectors contract
(apps/events/selectors.py, apps/nodes/selectors.py for the queue), so these tests pin what the pages do with an answer;
test_views_integration.py runs the same pages over real stored events.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.events import selectors
from apps.nodes import selectors as node_selectors
from tests.core.factories import UserFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

PAGES = ["events-flow", "events-performance", "events-queue", "events-bounces", "events-destinations",
         "events-search"]
BUCKETS = ["2026-11-25T10:00:00+00:00", "2026-11-25T11:00:00+00:00"]


def _stats(**counts) -> dict:
    base = {"total": 0, "delivered": 0, "bounced": 0, "deferred": 0, "rejected": 0, "complained": 0, "queued": 0}
    base |= counts
    outcome = sum(base[k] for k in ("delivered", "bounced", "deferred", "rejected"))
    rates = {f"{k}_rate": (base[k] / outcome if outcome else None) for k in ("delivered", "bounced", "deferred",
                                                                             "rejected")}
    times = {"avg": 2100.0, "p50": 1500.0, "p95": 7200.0, "p99": 12500.0} if base["delivered"] else \
        dict.fromkeys(("avg", "p50", "p95", "p99"))
    return base | rates | {"delivery_time_ms": times, "resolution": "1h"}


FULL = {
    "stats": _stats(total=131, delivered=90, bounced=6, deferred=4, rejected=1, queued=30),
    "throughput": {
        "type": {"resolution": "1h", "buckets": BUCKETS, "series": {"delivered": [40, 50], "bounced": [2, 4]}},
        "node": {"resolution": "1h", "buckets": BUCKETS, "series": {"mx1.example.net": [60, 71]}},
    },
    "delivery_histogram": {"total": 90, "buckets": [{"le_ms": 1000, "label": "≤ 1 s", "count": 50},
                                                    {"le_ms": None, "label": "> 1 s", "count": 40}]},
    "delivery_time_series": {"resolution": "1h", "buckets": BUCKETS, "series": {
        "p50": [1400.0, 1600.0], "p95": [7000.0, 7400.0], "p99": [12000.0, 13000.0]}},
    "queue": {"total_now": 17, "per_node_now": [{"node": "mx1.example.net", "queue_size": 17,
                                                 "time": "2026-11-25T11:00:00+00:00"}],
              "series": {"buckets": BUCKETS, "per_node": {"mx1.example.net": [12, 17]}}},
    "deferred_reasons": {"total": 4, "reasons": [{"category": "rate_limited", "label": "Rate limited / throttled",
                                                  "enhanced_status": "4.7.28",
                                                  "sample_response": "421-4.7.28 Gmail has detected an unusual rate",
                                                  "count": 4, "percent": 100.0}]},
    "bounce_analysis": {"total": 7,
                        "by_category": [{"category": "invalid_recipient", "label": "Invalid recipient", "count": 5,
                                         "percent": 71.4},
                                        {"category": "spam_block", "label": "Spam / reputation block", "count": 2,
                                         "percent": 28.6}],
                        "by_code": [{"status_code": 550, "enhanced_status": "5.1.1", "count": 5, "percent": 71.4},
                                    {"status_code": None, "enhanced_status": "", "count": 2, "percent": 28.6}]},
    "destinations": {"count": 2, "page": 1, "page_size": 50, "results": [
        {"domain": "gmail.com", "sent": 70, "delivered": 66, "bounced": 3, "deferred": 1, "rejected": 0,
         "delivery_rate": 0.943,
         "avg_delivery_ms": 1800.0, "p95_delivery_ms": 5000.0},
        {"domain": "yahoo.com", "sent": 31, "delivered": 24, "bounced": 4, "deferred": 3, "rejected": 0,
         "delivery_rate": 0.774,
         "avg_delivery_ms": None, "p95_delivery_ms": None}]},
}
EMPTY = {
    "stats": _stats(),
    "throughput": {key: {"resolution": "1h", "buckets": BUCKETS, "series": {}} for key in ("type", "node")},
    "delivery_histogram": {"total": 0, "buckets": FULL["delivery_histogram"]["buckets"]},
    "delivery_time_series": {"resolution": "1h", "buckets": BUCKETS,
                             "series": {k: [None, None] for k in ("p50", "p95", "p99")}},
    "queue": {"total_now": None, "per_node_now": [], "series": {"buckets": BUCKETS, "per_node": {}}},
    "deferred_reasons": {"total": 0, "reasons": []},
    "bounce_analysis": {"total": 0, "by_category": [], "by_code": []},
    "destinations": {"count": 0, "page": 1, "page_size": 50, "results": []},
}


class Recorder:
    """Stands in for the selector functions and remembers how each was called."""

    def __init__(self, monkeypatch, answers: dict):
        self.calls: list[tuple[str, dict]] = []
        for name in ("stats", "delivery_histogram", "delivery_time_series", "deferred_reasons", "bounce_analysis",
                     "destinations"):
            monkeypatch.setattr(selectors, name, self._answer(name, lambda kw, n=name: answers[n]))
        monkeypatch.setattr(node_selectors, "queue", self._answer("queue", lambda kw: answers["queue"]))
        monkeypatch.setattr(selectors, "throughput",
                            self._answer("throughput", lambda kw: answers["throughput"][kw["group_by"]]))

    def _answer(self, name, make):
        def fake(**kwargs):
            self.calls.append((name, kwargs))
            return make(kwargs)
        return fake

    def kwargs(self, name: str) -> dict:
        return next(kw for called, kw in self.calls if called == name)


@pytest.fixture
def full(monkeypatch, db):
    return Recorder(monkeypatch, FULL)


@pytest.fixture
def empty(monkeypatch, db):
    return Recorder(monkeypatch, EMPTY)


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_is_sent_to_login(client: Client, name, db):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", PAGES)
def test_user_without_the_view_permission_is_forbidden(client: Client, name, empty):
    client.force_login(UserFactory(username="nobody"))
    assert client.get(reverse(name)).status_code == 403


def test_the_view_emailevent_permission_alone_is_enough(client: Client, empty):
    user = UserFactory(username="narrow")
    user.user_permissions.add(Permission.objects.get(codename="view_emailevent"))
    client.force_login(user)
    assert client.get(reverse("events-flow")).status_code == 200


def test_flow_shows_counters_charts_and_subscribes_to_live_events(viewer_client, full):
    response = viewer_client.get(reverse("events-flow"), {"range": "24h"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-live-streams="events"' in html and 'id="live-region" data-live-region' in html
    assert 'data-counter="delivered">90<' in html and 'data-counter="bounced">6<' in html
    assert "89.1 %" in html  # 90 of 101 outcomes
    assert 'data-plotly="fig-throughput"' in html and 'data-plotly="fig-per-node"' in html
    assert "vendor/plotly/plotly.min.js" in html and "cdn" not in html.lower()
    time_range = full.kwargs("throughput")["time_range"]
    assert time_range.end - time_range.start == dt.timedelta(hours=24)


@pytest.mark.parametrize("name", ["events-performance", "events-queue", "events-bounces"])
def test_the_other_live_pages_re_render_their_region_on_live_messages(viewer_client, full, name):
    html = viewer_client.get(reverse(name), {"range": "1h"}).content.decode()
    assert 'data-live-streams="fleet,events"' in html and 'id="live-region" data-live-region' in html
    assert "js/refresh.js" in html


def test_flow_without_events_shows_empty_states_not_charts(viewer_client, empty):
    html = viewer_client.get(reverse("events-flow")).content.decode()
    assert "data-plotly" not in html
    assert html.count("No events in this range.") == 2
    assert 'data-counter="delivered">0<' in html


def test_a_custom_range_is_not_live(viewer_client, full):
    html = viewer_client.get(reverse("events-flow"), {"range": "custom", "from": "2026-11-20T08:00",
                                                      "to": "2026-11-20T20:00"}).content.decode()
    assert "data-live-region" not in html and "Custom range: not live" in html
    time_range = full.kwargs("stats")["time_range"]
    assert time_range.start.isoformat() == "2026-11-20T08:00:00+00:00"  # datetime-local read as UTC
    assert time_range.end.isoformat() == "2026-11-20T20:00:00+00:00"


def test_filters_reach_the_selectors(viewer_client, full):
    node = NodeFactory(hostname="mx7.example.net")
    pool = IpPoolFactory(name="transactional")
    viewer_client.get(reverse("events-flow"), {"node": node.pk, "pool": pool.pk, "ip": "198.51.100.7",
                                               "from_domain": "Example.com", "to_domain": "@gmail.com"})
    filters = full.kwargs("stats")["filters"]
    assert (filters.node, filters.pool, filters.ip) == (node.pk, pool.pk, "198.51.100.7")
    assert (filters.from_domain, filters.to_domain) == ("example.com", "gmail.com")


@pytest.mark.parametrize(("params", "field"), [
    ({"range": "2w"}, "range"),
    ({"range": "custom", "from": "yesterday", "to": "2026-11-20T20:00"}, "from"),
    ({"range": "custom", "to": "2026-11-20T20:00"}, "from"),
    ({"range": "custom", "from": "2026-11-20T20:00", "to": "2026-11-20T08:00"}, "to"),
    ({"node": "mx1"}, "node"),
    ({"pool": "-3"}, "pool"),
    ({"ip": "300.1.1.1"}, "ip"),
    ({"to_domain": "a b"}, "to_domain"),
])
@pytest.mark.parametrize("name", ["events-flow", "events-bounces"])
def test_bad_picker_parameters_answer_400_naming_the_field(viewer_client, empty, params, field, name):
    response = viewer_client.get(reverse(name), params)
    html = response.content.decode()
    assert response.status_code == 400
    assert f'data-error-field="{field}"' in html and f"{field}:" in html
    assert "data-plotly" not in html and empty.calls == []


def test_a_form_error_keeps_what_was_typed(viewer_client, empty):
    html = viewer_client.get(reverse("events-flow"), {"ip": "300.1.1.1", "to_domain": "gmail.com"}).content.decode()
    assert 'value="300.1.1.1"' in html and 'value="gmail.com"' in html


@pytest.mark.parametrize("name", PAGES)
def test_htmx_requests_get_the_partial(viewer_client, full, name):
    response = viewer_client.get(reverse(name), {"range": "6h"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="events-page">')
    assert "<html" not in html and 'hx-push-url="true"' in html
    assert 'value="6h" checked' in html


def test_htmx_form_error_is_a_400_partial(viewer_client, empty):
    response = viewer_client.get(reverse("events-queue"), {"range": "nope"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert response.content.decode().lstrip().startswith('<div id="events-page">')


def test_performance_leads_with_percentiles_on_one_scale_and_labels_the_average(viewer_client, full, settings):
    settings.MAILMON_DELIVERY_GREEN_MS = 1000
    html = viewer_client.get(reverse("events-performance")).content.decode()
    for chart in ("percentiles", "delivery-time", "histogram"):
        assert f'data-plotly="fig-{chart}"' in html
    assert "green under 1 s, yellow under 10 s" in html
    assert "#d69e2e" in html  # p50 1.5 s is yellow once green ends at 1 s
    assert 'data-time="p50">1.5 s<' in html and 'data-time="p99">12.5 s<' in html
    assert html.index('data-time="p99"') < html.index('data-time="avg"')
    assert "average (mean" in html and "average 2.10 s" in html


def test_performance_without_deliveries(viewer_client, empty):
    html = viewer_client.get(reverse("events-performance")).content.decode()
    assert "data-plotly" not in html
    assert html.count("No deliveries in this range.") == 3


def test_queue_page(viewer_client, full):
    node = NodeFactory(hostname="mx3.example.net")
    html = viewer_client.get(reverse("events-queue"), {"node": node.pk}).content.decode()
    assert 'id="queue-total">17<' in html and 'data-plotly="fig-queue"' in html
    assert "421-4.7.28 Gmail has detected" in html
    assert f"/events/search/?range=24h&amp;node={node.pk}&amp;type=deferred&amp;category=rate_limited" in html
    assert full.kwargs("queue")["node"] == node.pk


def test_queue_page_empty(viewer_client, empty):
    html = viewer_client.get(reverse("events-queue")).content.decode()
    assert 'id="queue-total">—<' in html
    assert "No queue reports from the nodes in this range." in html and "No deferrals in this range." in html


def test_bounces_link_rows_to_the_event_list(viewer_client, full):
    html = viewer_client.get(reverse("events-bounces"), {"range": "7d"}).content.decode()
    assert 'data-plotly="fig-bounce-categories"' in html and 'data-plotly="fig-bounce-codes"' in html
    assert "/events/search/?range=7d&amp;type=bounced&amp;type=rejected&amp;category=invalid_recipient" in html
    assert "/events/search/?range=7d&amp;type=bounced&amp;type=rejected&amp;code=550" in html


def test_bounces_empty(viewer_client, empty):
    html = viewer_client.get(reverse("events-bounces")).content.decode()
    assert html.count("No bounces or rejections in this range.") == 2 and 'id="bounce-categories"' not in html


def test_destinations_sort_headers_pages_and_drill_down(viewer_client, monkeypatch, db):
    answers = dict(FULL, destinations=dict(FULL["destinations"], count=120, page=2))
    recorder = Recorder(monkeypatch, answers)
    html = viewer_client.get(reverse("events-destinations"), {"sort": "domain", "page": "2"}).content.decode()
    called = recorder.kwargs("destinations")
    assert (called["sort"], called["page"], called["page_size"]) == ("domain", 2, 50)
    assert 'href="?range=24h&amp;sort=-domain"' in html  # sorted column flips
    assert 'href="?range=24h&amp;sort=-sent"' in html  # numbers sort descending first
    assert "page 2 of 3" in html and "sort=domain&amp;page=1" in html and "sort=domain&amp;page=3" in html
    assert "/events/search/?range=24h&amp;to_domain=gmail.com" in html
    assert "94.3 %" in html and 'data-plotly="fig-destinations"' in html


@pytest.mark.parametrize(("params", "field"), [({"sort": "password"}, "sort"), ({"page": "0"}, "page")])
def test_destinations_bad_sort_or_page_is_400(viewer_client, empty, params, field):
    response = viewer_client.get(reverse("events-destinations"), params)
    assert response.status_code == 400 and f'data-error-field="{field}"' in response.content.decode()


def test_destinations_empty(viewer_client, empty):
    html = viewer_client.get(reverse("events-destinations")).content.decode()
    assert html.count("No mail sent to any destination in this range.") == 2


@pytest.mark.parametrize(("params", "field"), [({"type": "exploded"}, "type"), ({"category": "x"}, "category"),
                                               ({"code": "5xx"}, "code"), ({"code": "99999"}, "code")])
def test_search_rejects_unknown_values(viewer_client, db, params, field):
    response = viewer_client.get(reverse("events-search"), params)
    assert response.status_code == 400 and f'data-error-field="{field}"' in response.content.decode()


@pytest.mark.parametrize("name", [p for p in PAGES if p != "events-search"])
def test_page_queries_do_not_grow_with_nodes_or_pools(viewer_client, full, name, django_assert_max_num_queries):
    NodeFactory.create_batch(2)
    viewer_client.get(reverse(name))  # warm the session and permission caches the same way each time
    with CaptureQueriesContext(connection) as few:
        viewer_client.get(reverse(name))
    NodeFactory.create_batch(30)
    IpPoolFactory.create_batch(10)
    with CaptureQueriesContext(connection) as many:
        viewer_client.get(reverse(name))
    assert len(many) == len(few)
    with django_assert_max_num_queries(6):  # session, user, permissions, nodes, pools (selectors faked)
        viewer_client.get(reverse(name))
