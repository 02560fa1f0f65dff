"""Viewer / Operator / Admin groups: pages, API and admin honour the same permissions."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.models import AuditLog
from apps.ips.choices import IpStatus
from apps.nodes.choices import NodeStatus
from tests.core.factories import UserFactory
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def nobody_client() -> Client:
    client = Client()
    client.force_login(UserFactory(username="no-role"))
    return client


def _ip_change_form(ip, **changes) -> dict:
    data = {
        "address": ip.address, "node": ip.node_id or "", "pool": ip.pool_id or "", "status": ip.status,
        "ptr": ip.ptr, "warmup_started_on": "", "warmup_day": "", "daily_limit": "", "reputation_score": "",
        "last_used_at_0": "", "last_used_at_1": "", "weight": ip.weight, "subnet_label": ip.subnet_label,
        "warmup_schedule": "", "warmup_checked_on": "",
    }
    return {**data, **changes}


@pytest.mark.parametrize("persona", ["viewer_client", "operator_client", "admin_role_client"])
def test_every_role_reads_pages_api_and_admin(request, persona):
    client = request.getfixturevalue(persona)
    ip = SendingIPFactory()
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/nodes").status_code == 200
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/ips/sendingip/").status_code == 200
    assert client.get(f"/admin/ips/sendingip/{ip.pk}/change/").status_code == 200


def test_a_user_without_a_role_gets_403_on_pages_api_and_admin(nobody_client):
    assert nobody_client.get("/").status_code == 403
    assert nobody_client.get("/nodes/").status_code == 403
    assert nobody_client.get("/api/v1/nodes").status_code == 403
    assert nobody_client.get("/api/schema/").status_code == 403
    assert nobody_client.get("/api/docs/").status_code == 403
    assert nobody_client.get("/health/detailed").status_code == 403
    assert nobody_client.get("/admin/").status_code == 403
    assert nobody_client.get("/admin/nodes/node/").status_code == 403


def test_the_admin_login_sends_people_to_the_one_rate_limited_login(client):
    response = client.get("/admin/login/?next=/admin/nodes/node/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/nodes/node/"
    assert client.get("/admin/login/?next=https://evil.example/")["Location"] == "/accounts/login/?next=/admin/"


def test_a_viewer_cannot_change_or_delete_in_the_admin(viewer_client):
    ip = SendingIPFactory(status=IpStatus.ACTIVE)
    change = viewer_client.post(f"/admin/ips/sendingip/{ip.pk}/change/", _ip_change_form(ip, status="paused"))
    assert change.status_code == 403
    delete = viewer_client.post(f"/admin/ips/sendingip/{ip.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    action = viewer_client.post(
        "/admin/ips/sendingip/", {"action": "pause", "_selected_action": [ip.pk]}
    )
    ip.refresh_from_db()
    assert ip.status == IpStatus.ACTIVE
    assert action.status_code in (200, 302, 403)  # the admin hides the action; nothing changed
    assert not AuditLog.objects.exists()


def test_an_operator_changes_an_ip_in_the_admin_and_it_is_audited(operator_client):
    ip = SendingIPFactory(status=IpStatus.ACTIVE)
    response = operator_client.post(f"/admin/ips/sendingip/{ip.pk}/change/", _ip_change_form(ip, status="paused"))
    assert response.status_code == 302, response.content[:2000]
    ip.refresh_from_db()
    assert ip.status == IpStatus.PAUSED
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.action, entry.object_id) == (operator_client.user, "sendingip.change", str(ip.pk))
    assert entry.before["status"] == "active" and entry.after["status"] == "paused"
    assert entry.remote_addr == "127.0.0.1"


def test_an_operator_cannot_delete_or_manage_agent_keys(operator_client):
    ip = SendingIPFactory()
    assert operator_client.post(f"/admin/ips/sendingip/{ip.pk}/delete/", {"post": "yes"}).status_code == 403
    assert operator_client.get("/admin/core/agentapikey/add/").status_code == 403
    assert operator_client.get("/admin/auth/user/").status_code == 403


def test_admin_actions_write_the_audit_log(operator_client):
    node = NodeFactory(status=NodeStatus.ONLINE)
    ips = [SendingIPFactory(status=IpStatus.ACTIVE) for _ in range(2)]
    operator_client.post("/admin/nodes/node/", {"action": "start_maintenance", "_selected_action": [node.pk]})
    operator_client.post("/admin/ips/sendingip/", {"action": "quarantine", "_selected_action": [ip.pk for ip in ips]})
    node.refresh_from_db()
    assert node.status == NodeStatus.MAINTENANCE
    entries = list(AuditLog.objects.order_by("id").values_list("action", "object_id", "actor_label"))
    assert entries == [
        ("node.maintenance_start", str(node.pk), "operator"),
        ("ip.quarantined", str(ips[0].pk), "operator"),
        ("ip.quarantined", str(ips[1].pk), "operator"),
    ]


def test_an_admin_deleting_in_the_admin_is_audited(admin_role_client):
    ip = SendingIPFactory(address="198.51.100.77")
    response = admin_role_client.post(f"/admin/ips/sendingip/{ip.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    entry = AuditLog.objects.get(action="sendingip.delete")
    assert entry.object_id == str(ip.pk) and entry.before["address"] == "198.51.100.77"


def test_revoking_an_agent_key_in_the_admin_is_audited(admin_role_client):
    from tests.core.factories import make_agent_key

    stored, _ = make_agent_key("to-revoke")
    response = admin_role_client.post(
        "/admin/core/agentapikey/", {"action": "revoke", "_selected_action": [stored.pk]}
    )
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.revoked
    assert AuditLog.objects.filter(action="api_key.revoke", object_id=stored.pk).exists()


def test_the_audit_log_cannot_be_edited_in_the_admin(admin_role_client):
    from apps.core.audit import audit_record

    entry = audit_record(actor=None, action="test.thing", object_type="x.y", object_id="1")
    assert admin_role_client.get(f"/admin/core/auditlog/{entry.pk}/change/").status_code == 200  # read-only view
    admin_role_client.post(f"/admin/core/auditlog/{entry.pk}/change/", {"action": "forged"})
    entry.refresh_from_db()
    assert entry.action == "test.thing"
