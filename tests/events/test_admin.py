"""Bounce rules edited in the admin are audited like every other admin change."""

from __future__ import annotations

from apps.core.models import AuditLog
from apps.events.models import BounceRule


def test_changing_a_bounce_rule_in_the_admin_is_audited(admin_role_client):
    rule = BounceRule.objects.create(name="mailbox-full-test", category="mailbox_full", priority=100)
    form = {"name": rule.name, "category": rule.category, "priority": 5, "status_code": "", "enhanced_status": "",
            "response": "quota exceeded", "enabled": "on"}  # fmt: skip
    response = admin_role_client.post(f"/admin/events/bouncerule/{rule.pk}/change/", form)
    assert response.status_code == 302
    entry = AuditLog.objects.get(action="bouncerule.change")
    assert entry.actor_label == "admin"
    assert (entry.before["priority"], entry.after["priority"]) == (100, 5)
    assert entry.after["response"] == "quota exceeded"
