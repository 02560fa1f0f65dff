"""GET /api/v1/mta/pools: what the MTAs obey, cached, with an ETag that moves on every change."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.ips import services
from apps.ips.choices import IpStatus
from apps.pools import services as pool_services
from tests.core.factories import make_agent_key
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/mta/pools"


@pytest.fixture
def fleet():
    nodes = [NodeFactory(hostname="mta-out-1"), NodeFactory(hostname="mta-out-2")]
    transactional, bulk = IpPoolFactory(name="transactional", type="transactional"), IpPoolFactory(name="bulk")
    IpPoolFactory(name="empty")
    ips = [
        SendingIPFactory(address="198.51.100.1", node=nodes[0], pool=transactional, daily_limit=500),
        SendingIPFactory(address="2001:db8::1", node=nodes[1], pool=transactional, weight=50),
        SendingIPFactory(address="198.51.100.2", node=nodes[0], pool=bulk),
        SendingIPFactory(address="198.51.100.3", node=nodes[0], pool=None),
    ]
    return nodes, ips


def addresses(body: dict, pool: str) -> list[str]:
    return [ip["address"] for p in body["pools"] if p["name"] == pool for ip in p["ips"]]


def test_each_pool_lists_its_active_ips_with_weight_and_quota(client, agent_headers, fleet):
    response = client.get(URL, **agent_headers)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache"
    assert response["ETag"].startswith('"') and response["ETag"].endswith('"')
    body = response.json()
    assert [p["name"] for p in body["pools"]] == ["bulk", "empty", "transactional"]
    transactional = next(p for p in body["pools"] if p["name"] == "transactional")
    assert transactional["type"] == "transactional"
    assert transactional["ips"] == [
        {"address": "198.51.100.1", "version": 4, "node": "mta-out-1", "weight": 100, "daily_limit": 500,
         "sent_today": 0, "remaining": 500},
        {"address": "2001:db8::1", "version": 6, "node": "mta-out-2", "weight": 50, "daily_limit": None,
         "sent_today": 0, "remaining": None},
    ]  # fmt: skip
    assert addresses(body, "empty") == []
    assert "198.51.100.3" not in response.content.decode()  # in no pool


def test_a_paused_ip_disappears_on_the_next_request_and_the_etag_changes(client, agent_headers, fleet):
    first = client.get(URL, **agent_headers)
    assert "198.51.100.2" in addresses(first.json(), "bulk")
    services.ip_pause(ip=fleet[1][2], actor=None, reason="listed")
    second = client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"], **agent_headers)
    assert second.status_code == 200
    assert addresses(second.json(), "bulk") == []
    assert second["ETag"] != first["ETag"]


@pytest.mark.parametrize("status", [IpStatus.QUARANTINED, IpStatus.RETIRED])
def test_quarantined_and_retired_ips_are_absent(client, agent_headers, fleet, status):
    services.ips_set_status(ips=[fleet[1][2]], status=status, actor=None)
    assert addresses(client.get(URL, **agent_headers).json(), "bulk") == []


def test_an_unchanged_answer_is_a_304_without_a_body(client, agent_headers, fleet):
    first = client.get(URL, **agent_headers)
    again = client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"], **agent_headers)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    other = client.get(URL, HTTP_IF_NONE_MATCH='"stale"', **agent_headers)
    assert other.status_code == 200


def test_pool_changes_move_the_etag(client, agent_headers, fleet):
    first = client.get(URL, **agent_headers)
    pool_services.pool_assign_ips(pool=None, ips=[fleet[1][2]], actor=None)
    second = client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"], **agent_headers)
    assert second.status_code == 200 and addresses(second.json(), "bulk") == []


def test_sent_today_comes_from_the_events_and_an_over_quota_ip_is_absent(client, agent_headers, fleet, settings):
    nodes, ips = fleet
    now = timezone.now()
    store_events([event(time=now, node_id=nodes[0].id, sending_ip="198.51.100.1") for _ in range(3)])
    settings.MAILMON_MTA_POOLS_SENT_REFRESH = 1  # a new epoch for the counters
    services.ip_update(ip=ips[0], actor=None, daily_limit=5)
    body = client.get(URL, **agent_headers).json()
    ip = next(ip for p in body["pools"] for ip in p["ips"] if ip["address"] == "198.51.100.1")
    assert (ip["sent_today"], ip["remaining"]) == (3, 2)

    services.ip_update(ip=ips[0], actor=None, daily_limit=3)
    assert addresses(client.get(URL, **agent_headers).json(), "transactional") == ["2001:db8::1"]


def test_a_node_scoped_key_sees_only_its_nodes_ips(client, fleet):
    nodes, _ = fleet
    _, key = make_agent_key("mta-out-2", node=nodes[1])
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}", "REMOTE_ADDR": "127.0.0.1"}
    body = client.get(URL, **headers).json()
    assert [ip["address"] for p in body["pools"] for ip in p["ips"]] == ["2001:db8::1"]
    assert len(body["pools"]) == 3
    refused = client.get(URL, {"node": "mta-out-1"}, **headers)
    assert refused.status_code == 403


def test_a_fleet_key_narrows_to_one_node_and_an_unknown_node_is_a_400(client, agent_headers, fleet):
    body = client.get(URL, {"node": "mta-out-2"}, **agent_headers).json()
    assert [ip["address"] for p in body["pools"] for ip in p["ips"]] == ["2001:db8::1"]
    bad = client.get(URL, {"node": "nope"}, **agent_headers)
    assert bad.status_code == 400 and "node" in bad.json()


def test_it_needs_an_agent_key(client, viewer_client, fleet):
    assert client.get(URL).status_code == 401
    assert viewer_client.get(URL).status_code in (401, 403)


def test_a_cached_answer_is_reused_until_something_changes(client, agent_headers, fleet, django_assert_num_queries):
    first = client.get(URL, **agent_headers)
    with django_assert_num_queries(0):  # the key from the key cache, the answer from Redis
        assert client.get(URL, **agent_headers).status_code == 200
        assert client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"], **agent_headers).status_code == 304


def test_the_etag_shortcut_still_refuses_bad_keys(client, agent_headers, fleet):
    etag = client.get(URL, **agent_headers)["ETag"]
    for header in ("Api-Key nope.nope", ""):
        refused = client.get(URL, HTTP_IF_NONE_MATCH=etag, HTTP_AUTHORIZATION=header, REMOTE_ADDR="127.0.0.1")
        assert refused.status_code == 401
        assert refused["WWW-Authenticate"] == "Api-Key" and "detail" in refused.json()
    stored, key = make_agent_key("walled", allowed_cidrs=["10.0.0.0/8"])
    outside = client.get(URL, HTTP_IF_NONE_MATCH=etag, HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="192.0.2.1")
    assert outside.status_code == 403 and "192.0.2.1" in outside.json()["detail"]


def test_a_node_scoped_key_gets_its_own_etag_through_the_shortcut(client, agent_headers, fleet):
    nodes, _ = fleet
    _, key = make_agent_key("mta-out-2", node=nodes[1])
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}", "REMOTE_ADDR": "127.0.0.1"}
    fleet_etag, node_etag = client.get(URL, **agent_headers)["ETag"], client.get(URL, **headers)["ETag"]
    assert fleet_etag != node_etag
    assert client.get(URL, HTTP_IF_NONE_MATCH=fleet_etag, **headers).status_code == 200
    assert client.get(URL, HTTP_IF_NONE_MATCH=node_etag, **headers).status_code == 304


def test_an_admin_edit_moves_the_etag(client, agent_headers, operator_client, fleet):
    from tests.core.test_permissions import _ip_change_form

    first = client.get(URL, **agent_headers)
    ip = fleet[1][2]
    response = operator_client.post(f"/admin/ips/sendingip/{ip.pk}/change/", _ip_change_form(ip, status="paused"))
    assert response.status_code == 302
    second = client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"], **agent_headers)
    assert second.status_code == 200 and addresses(second.json(), "bulk") == []


def test_node_answers_are_narrowed_from_one_fleet_read_per_epoch(client, agent_headers, fleet,
                                                                  django_assert_num_queries):
    nodes, _ = fleet
    _, key = make_agent_key("mta-out-1", node=nodes[0])
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}", "REMOTE_ADDR": "127.0.0.1"}
    client.get(URL, **agent_headers)  # the fleet's answer: reads the IPs and the sent-today counts
    with django_assert_num_queries(2):  # the new key: its row, last_used_at. The answer is cut from the fleet's
        body = client.get(URL, **headers).json()
    assert [ip["address"] for p in body["pools"] for ip in p["ips"]] == ["198.51.100.2", "198.51.100.1"]
    assert all("node_id" not in ip for p in body["pools"] for ip in p["ips"])


def test_after_redis_loses_the_version_nothing_kept_in_memory_is_served(client, agent_headers, fleet):
    from apps.core.redis import get_redis
    from apps.ips.models import SendingIP

    assert "198.51.100.2" in addresses(client.get(URL, **agent_headers).json(), "bulk")
    SendingIP.objects.filter(address="198.51.100.2").update(status=IpStatus.PAUSED)  # no version bump
    get_redis().flushdb()  # e.g. a Redis restart without persistence
    assert addresses(client.get(URL, **agent_headers).json(), "bulk") == []


def test_the_schema_documents_the_poll_with_its_304(viewer_client):
    operation = viewer_client.get("/api/schema/?format=json").json()["paths"]["/api/v1/mta/pools"]["get"]
    assert {"200", "304", "401", "403"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} >= {"node", "If-None-Match"}
    assert operation["security"] == [{"AgentApiKey": []}]
