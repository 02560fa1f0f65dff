"""Agent keys registering nodes: a node limit per key, new hostnames per minute, admin approval."""

from __future__ import annotations

import pytest

from apps.core.models import AuditLog
from apps.nodes.models import Node
from apps.nodes.services import NodeRegistrationRefused, nodes_ensure
from tests.core.factories import UserFactory, make_agent_key

pytestmark = pytest.mark.django_db


def _report(client, key: str, hostname: str):
    return client.post(
        "/api/v1/nodes/metrics", {"hostname": hostname, "cpu_percent": 1}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="127.0.0.1",
    )


def test_a_key_registers_at_most_its_node_limit_then_gets_403_naming_it(client, settings):
    settings.MAILMON_NODES_PER_KEY = 3
    _, key = make_agent_key("shipper")
    assert [_report(client, key, f"n{i}.example.net").status_code for i in range(3)] == [202] * 3
    refused = _report(client, key, "n3.example.net")
    assert refused.status_code == 403
    assert "Node limit reached" in refused.json()["detail"] and "'shipper'" in refused.json()["detail"]
    assert _report(client, key, "n1.example.net").status_code == 202  # known nodes still report
    assert not Node.objects.filter(hostname="n3.example.net").exists()


def test_a_key_setting_overrides_the_node_limit(client, settings):
    settings.MAILMON_NODES_PER_KEY = 1
    _, key = make_agent_key("big-shipper", max_nodes=5)
    assert [_report(client, key, f"m{i}.example.net").status_code for i in range(5)] == [202] * 5


def test_five_thousand_hostnames_at_once_are_refused_whole(settings):
    api_key, _ = make_agent_key("fleet")
    with pytest.raises(NodeRegistrationRefused) as refused:
        nodes_ensure(hostnames=[f"h{i}.example.net" for i in range(5000)], key=api_key)
    assert refused.value.status == 403 and "at most 500 nodes" in str(refused.value)
    assert Node.objects.count() == 0


def test_new_hostnames_per_minute_are_limited_with_429_and_retry_after(client, settings):
    settings.MAILMON_NEW_NODES_PER_MINUTE = 2
    _, key = make_agent_key("shipper")
    assert _report(client, key, "a.example.net").status_code == 202
    assert _report(client, key, "b.example.net").status_code == 202
    refused = _report(client, key, "c.example.net")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "new hostnames per minute" in refused.json()["detail"]
    _, other = make_agent_key("other-shipper")
    assert _report(client, other, "c.example.net").status_code == 202  # per key


def test_with_approval_required_new_nodes_wait_outside_the_fleet_until_an_admin_approves(client, settings):
    settings.MAILMON_NODE_APPROVAL_REQUIRED = True
    _, key = make_agent_key("shipper")
    response = _report(client, key, "new.example.net")
    assert response.status_code == 202 and response.json()["approved"] is False
    admin = UserFactory(username="root", role="Admin")
    client.force_login(admin)
    assert "new.example.net" not in client.get("/api/v1/nodes").content.decode()
    overview = client.get("/nodes/").content.decode()
    assert "1 new node registered by agents is waiting for approval" in overview
    assert "new.example.net" in client.get("/admin/nodes/node/?approved__exact=0").content.decode()
    node = Node.objects.get(hostname="new.example.net")
    client.post("/admin/nodes/node/", {"action": "approve", "_selected_action": [node.pk]})
    node.refresh_from_db()
    assert node.approved
    assert AuditLog.objects.filter(action="node.approve", object_repr="new.example.net").exists()
    assert "new.example.net" in client.get("/api/v1/nodes").content.decode()


def test_a_key_may_require_approval_on_its_own(client):
    _, strict = make_agent_key("strict", require_node_approval=True)
    _, relaxed = make_agent_key("relaxed")
    _report(client, strict, "held.example.net")
    _report(client, relaxed, "free.example.net")
    approved = dict(Node.objects.values_list("hostname", "approved"))
    assert approved == {"held.example.net": False, "free.example.net": True}


def test_an_admin_sets_a_keys_node_limits_in_the_admin(admin_role_client):
    page = admin_role_client.get("/admin/core/agentapikey/add/").content.decode()
    for field in ("max_nodes", "new_nodes_per_minute", "require_node_approval"):
        assert f'name="{field}"' in page


def _events(hostnames, key: str, client):
    import datetime as dt

    now = dt.datetime.now(dt.UTC).isoformat()
    events = [
        {"event_id": f"cap-{i}", "time": now, "type": "delivered", "node": host, "to": "a@example.com"}
        for i, host in enumerate(hostnames)
    ]
    return client.post(
        "/api/v1/events/ingest", events, content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="127.0.0.1",
    )


def test_event_batches_naming_more_new_nodes_than_the_key_may_register_are_refused_whole(client, settings):
    settings.MAILMON_NODES_PER_KEY = 10
    _, key = make_agent_key("events-shipper")
    refused = _events([f"e{i}.example.net" for i in range(50)], key, client)
    assert refused.status_code == 403 and "Node limit reached" in refused.json()["detail"]
    assert not Node.objects.filter(hostname__startswith="e").exists()
    assert _events([f"e{i}.example.net" for i in range(10)], key, client).status_code == 202
    assert Node.objects.filter(registered_by__name="events-shipper").count() == 10


def test_event_batches_from_a_key_requiring_approval_register_pending_nodes(client):
    _, key = make_agent_key("careful", require_node_approval=True)
    assert _events(["new-mta.example.net"], key, client).status_code == 202
    assert Node.objects.get(hostname="new-mta.example.net").approved is False
