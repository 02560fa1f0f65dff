"""Event search: one box (q) on the page and GET /api/v1/events, each kind of q, keyset
pagination, the exact code filter and the message page — over real stored events."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from apps.events.time_range import classify_q, parse_code
from tests.events.factories import event, store_events
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db
API = "/api/v1/events"


@pytest.fixture
def mail(db):
    """One message to Bob tried three times, plus noise that must not match."""
    now = dt.datetime.now(dt.UTC)
    mx = NodeFactory(hostname="mta-out-1.example.net")
    t = now - dt.timedelta(minutes=30)
    bob = {"node_id": mx.pk, "message_id": "<20261201.abc123@shop.example>", "recipient": "Bob.Smith@Example.NET",
           "recipient_domain": "example.net", "sender": "orders@shop.example", "sender_domain": "shop.example",
           "sending_ip": "203.0.113.7"}
    rows = [
        event(time=t, type="queued", event_id="mta-out-1:4F2A1B2C3D:q", status_code=None, enhanced_status="",
              response="", **bob),
        event(time=t + dt.timedelta(minutes=1), type="deferred", event_id="mta-out-1:4F2A1B2C3D:d1",
              status_code=450, enhanced_status="4.2.0", response="450 4.2.0 <bob@example.net>: Greylisted, see "
              "http://postgrey.schweikert.ch/help/example.net.html", bounce_category="greylisted", **bob),
        event(time=t + dt.timedelta(minutes=6), type="delivered", event_id="mta-out-1:4F2A1B2C3D:ok",
              response="250 2.0.0 Ok: queued as 7XQ9", **bob),
    ]
    noise = [event(time=t + dt.timedelta(seconds=i), node_id=mx.pk, recipient=f"n{i}@other.example",
                   recipient_domain="other.example", sending_ip="203.0.113.8", sender="news@bulk.example",
                   sender_domain="bulk.example", event_id=f"mta-out-1:9ABCDEF{i:03}:ok") for i in range(20)]
    store_events(rows + noise)
    return {"node": mx, "now": now}


def _api(client, **params) -> dict:
    response = client.get(API, params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(("q", "kind"), [
    ("bob.smith@example.net", "address"),            # full address, any case
    ("BOB.SMITH@EXAMPLE.NET", "address"),
    ("<20261201.abc123@shop.example>", "message_id"),
    ("20261201.abc123@shop.example", "address"),     # a Message-ID typed without brackets
    ("example.net", "domain"),
    ("@example.net", "domain"),
    ("4F2A1B2C3D", "token"),                          # Postfix queue id
    ("203.0.113.7", "ip"),
    ("Greylisted", "text"),                           # nobody's queue id or local part: response text
    ("see http://postgrey", "text"),
])  # fmt: skip
def test_api_finds_the_message_by_each_kind_of_q(viewer_client, mail, q, kind):
    answer = _api(viewer_client, q=q, range="1h")
    assert answer["kind"] == kind
    found = {row["event_id"] for row in answer["results"]}
    assert "mta-out-1:4F2A1B2C3D:d1" in found
    assert all(row["recipient"] == "Bob.Smith@Example.NET" for row in answer["results"])


def test_api_finds_by_local_part(viewer_client, mail):
    answer = _api(viewer_client, q="bob.smith@", range="1h")
    assert answer["kind"] == "token" and len(answer["results"]) == 3
    assert _api(viewer_client, q="orders", range="1h")["kind"] == "token"  # sender local part
    assert len(_api(viewer_client, q="orders", range="1h")["results"]) == 3


def test_api_text_search_matches_only_the_response(viewer_client, mail):
    answer = _api(viewer_client, q="queued as 7XQ9", range="1h")
    assert [row["type"] for row in answer["results"]] == ["delivered"]
    assert answer["results"][0]["url"].startswith("http://testserver/events/event/")


def test_api_search_takes_from_and_to(viewer_client, mail):
    start = (mail["now"] - dt.timedelta(hours=2)).isoformat()
    end = (mail["now"] - dt.timedelta(hours=1)).isoformat()
    assert _api(viewer_client, q="203.0.113.7", **{"from": start, "to": end})["results"] == []


@pytest.mark.parametrize(("params", "field"), [
    ({"q": "a!"}, "q"), ({"cursor": "not-a-cursor"}, "cursor"), ({"code": "5xx"}, "code"),
    ({"code": "550 551"}, "code"), ({"type": "exploded"}, "type"), ({"category": "x"}, "category"),
    ({"from": "yesterday"}, "from"), ({"limit": "0"}, "limit"),
])  # fmt: skip
def test_api_bad_input_is_400_naming_the_field(viewer_client, db, params, field):
    response = viewer_client.get(API, params)
    assert response.status_code == 400 and field in response.json()


def test_api_needs_a_login(client, db):
    assert client.get(API).status_code in (401, 403)


def test_cursor_pages_are_stable_while_new_events_arrive(viewer_client, mail):
    first = _api(viewer_client, q="other.example", range="1h", limit=8)
    assert len(first["results"]) == 8 and first["next_cursor"]
    node = mail["node"]
    store_events([event(time=mail["now"] - dt.timedelta(seconds=5), node_id=node.pk, recipient="late@other.example",
                        recipient_domain="other.example")])
    seen = [row["id"] for row in first["results"]]
    cursor = first["next_cursor"]
    while cursor:
        page = _api(viewer_client, q="other.example", range="1h", limit=8, cursor=cursor)
        seen += [row["id"] for row in page["results"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 20  # the late event is newer than page 1: never shown, nothing repeated
    times = [row["time"] for row in first["results"]]
    assert times == sorted(times, reverse=True)


@pytest.fixture
def codes(db):
    mx = NodeFactory(hostname="mx.example.net")
    t = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    rows = [event(time=t, node_id=mx.pk, type="bounced", status_code=550, enhanced_status="5.1.1",
                  recipient=f"gone{i}@example.org", response="550 5.1.1 User unknown") for i in range(3)]
    rows += [event(time=t, node_id=mx.pk, type="bounced", status_code=550, enhanced_status="5.7.1",
                   recipient=f"blocked{i}@example.org", response="550 5.7.1 Blocked") for i in range(2)]
    rows += [event(time=t, node_id=mx.pk, type="deferred", status_code=421, enhanced_status="4.7.1",
                   recipient="later@example.org", response="421 4.7.1 Try later")]
    store_events(rows)


@pytest.mark.parametrize(("code", "expected"), [("550", 5), ("5.7.1", 2), ("550 5.7.1", 2), ("5.1.1", 3),
                                                ("4.7.1", 1), ("550 4.7.1", 0)])
def test_code_filter_is_exact_on_page_and_api(viewer_client, codes, code, expected):
    assert len(_api(viewer_client, code=code, range="1h")["results"]) == expected
    html = viewer_client.get(reverse("events-search"), {"code": code, "range": "1h"}).content.decode()
    assert html.count('class="event-link"') == expected


def test_bounces_page_drills_down_to_exactly_the_enhanced_status(viewer_client, codes):
    html = viewer_client.get(reverse("events-bounces"), {"range": "1h"}).content.decode()
    link = "/events/search/?range=1h&amp;type=bounced&amp;type=rejected&amp;code=550+5.7.1"
    assert link in html
    listing = viewer_client.get(link.replace("&amp;", "&")).content.decode()
    assert listing.count('class="event-link"') == 2 and "5.1.1" not in listing


@pytest.mark.parametrize("q", ["bob.smith@example.net", "<20261201.abc123@shop.example>", "4F2A1B2C3D"])
def test_search_page_finds_the_message_and_opens_all_its_events(viewer_client, mail, q):
    html = viewer_client.get(reverse("events-search"), {"q": q, "range": "1h"}).content.decode()
    assert html.count('class="event-link"') == 3 and "n1@other.example" not in html
    assert 'id="search-kind"' in html
    link = html.split('class="event-link"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    detail = viewer_client.get(link)
    assert detail.status_code == 200
    body = detail.content.decode()
    assert body.count('<span class="badge ev-') == 3 and "Greylisted" in body and "250 2.0.0 Ok" in body


def test_search_page_names_a_bad_q(viewer_client, db):
    response = viewer_client.get(reverse("events-search"), {"q": "x?"})
    assert response.status_code == 400 and 'data-error-field="q"' in response.content.decode()


def test_event_detail_of_an_unknown_event_is_404(viewer_client, db):
    assert viewer_client.get(reverse("events-detail", args=[987654])).status_code == 404


@pytest.mark.parametrize(("raw", "kind"), [
    ("198.51.100.7", "ip"), ("2001:db8::25", "ip"), ("<a.b@c.d>", "message_id"), ("a@b.example", "address"),
    ("gmail.com", "domain"), ("4F2A1B2C3D", "token"), ("18c4c5b0e4a000abcd", "token"),
    ("5F2A1B2C-1D4F-4A5B-9C8D-7E6F5A4B3C2D.1", "token"), ("user unknown", "text"), ("5.7.1 blocked", "text"),
])  # fmt: skip
def test_q_is_classified_by_its_shape(raw, kind):
    assert classify_q(raw).kind == kind


def test_code_accepts_basic_enhanced_or_both():
    assert (parse_code("550").basic, parse_code("550").enhanced) == (550, None)
    assert (parse_code("5.7.1").basic, parse_code("5.7.1").enhanced) == (None, "5.7.1")
    assert str(parse_code("550+5.7.1")) == "550 5.7.1"


def test_the_picker_shows_24_hour_utc_text_not_a_locale_widget(viewer_client, db):
    html = viewer_client.get(reverse("events-flow"), {"range": "custom", "from": "2026-11-20 13:32",
                                                      "to": "2026-11-20T20:00"}).content.decode()
    assert 'type="datetime-local"' not in html
    assert 'name="from" value="2026-11-20 13:32"' in html and 'name="to" value="2026-11-20 20:00"' in html
    assert " PM" not in html and " AM" not in html


def test_bounce_counts_have_thousands_separators_and_one_decimal(viewer_client, codes):
    store_events([event(time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5), node_id=NodeFactory().pk,
                        type="bounced", status_code=550, enhanced_status="5.1.1", bounce_category="invalid_recipient",
                        response="550 5.1.1 unknown") for _ in range(1200)])
    html = viewer_client.get(reverse("events-bounces"), {"range": "1h"}).content.decode()
    assert ">1,205<" in html and "99.6 %" in html


def test_chart_points_carry_their_drill_down(viewer_client, codes):
    from apps.events import charts, selectors
    from apps.events.time_range import EventFilters, TimeRange

    now = dt.datetime.now(dt.UTC)
    scope = {"time_range": TimeRange(start=now - dt.timedelta(hours=1), end=now), "filters": EventFilters()}
    chart = charts.bounce_code_chart(selectors.bounce_analysis(**scope))
    drills = dict(zip(chart.figure.data[0].x, chart.figure.data[0].customdata, strict=True))
    assert drills["550 5.7.1"] == "type=bounced&type=rejected&code=550+5.7.1"
    flow = charts.throughput_chart(selectors.throughput(**scope, group_by="type"))
    bounced = next(trace for trace in flow.figure.data if trace.name == "bounced")
    assert bounced.customdata[0].startswith("range=custom&from=") and bounced.customdata[0].endswith("type=bounced")


def test_the_response_trigram_index_is_opt_in(db):
    """MAILMON_SEARCH_TRIGRAM is off by default: no GIN index slows every ingested event."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'emailevent_response_trgm'")
        assert cursor.fetchone() is None


@pytest.mark.parametrize("q", [
    "bob.smith@example.net",  # address: the local part's token
    "orders@shop.example",    # a sender's address
    "bob.smith",              # a bare local part
    "4F2A1B2C3D",             # queue id
    "203.0.113.7",            # IP
    "shop.example",           # a sender domain (the recipient side has its own btree)
])
def test_each_kind_of_q_is_looked_up_in_the_search_tokens_index(mail, q):
    """The query's tokens expression must be the GIN index's expression, or every search
    silently scans the range: the plan must probe the index with ``&&``."""
    from django.db import connection

    from apps.events.models import EmailEvent
    from apps.events.selectors_search import term_filter

    events = term_filter(EmailEvent.objects.all(), classify_q(q))
    with connection.cursor() as cursor:
        # A handful of rows: left alone, the planner reads them all. Without sequential
        # scans the test asks which index can answer, not which is cheapest for 23 rows.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = events.explain()
    index_conds = [line for line in plan.splitlines() if "Index Cond" in line and "&&" in line]
    assert index_conds, plan
    assert "split_part(lower((recipient)::text), '@'::text, 1)" in index_conds[0], plan


def test_the_search_tokens_index_is_the_only_search_btree_replacement(db):
    """Migration 0008: one GIN index, none of the five per-kind btrees it replaced."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events_emailevent'")
        indexes = dict(cursor.fetchall())
    assert "USING gin" in indexes["emailevent_search_tokens"]
    for gone in ("emailevent_ip_time", "emailevent_sdomain_time", "emailevent_rcpt_time", "emailevent_sender_time",
                 "emailevent_queue_id_time"):
        assert gone not in indexes


def test_an_ipv6_sending_ip_is_found_however_it_is_written(viewer_client):
    """The token is PostgreSQL's host() of the address, the term Python's compressed form:
    both print an IPv6 address the same canonical way."""
    now = dt.datetime.now(dt.UTC)
    node = NodeFactory(hostname="mta-v6.example.net")
    store_events([
        event(time=now - dt.timedelta(minutes=5), node_id=node.pk, sending_ip="2001:db8::25", event_id="mta-v6:AB12:1"),
        event(time=now - dt.timedelta(minutes=4), node_id=node.pk, sending_ip="2001:db8::26", event_id="mta-v6:AB13:1"),
    ])
    for q in ("2001:DB8::25", "2001:db8:0:0:0:0:0:25"):
        body = _api(viewer_client, q=q, range="24h")
        assert body["kind"] == "ip"
        assert [row["event_id"] for row in body["results"]] == ["mta-v6:AB12:1"]
