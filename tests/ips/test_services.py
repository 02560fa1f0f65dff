"""Sending-IP status changes: validated, audited once per IP, the same from the admin."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.core.models import AuditLog
from apps.ips import services
from apps.ips.choices import IpStatus
from apps.ips.models import SendingIP
from tests.ips.factories import SendingIPFactory

pytestmark = pytest.mark.django_db


def ip_audits(action: str) -> list[AuditLog]:
    return list(AuditLog.objects.filter(object_type="ips.sendingip", action=action).order_by("object_id"))


def test_pausing_many_ips_writes_one_audit_entry_per_ip_that_changed():
    ips = SendingIPFactory.create_batch(3)
    services.ip_pause(ip=ips[0], actor=None, reason="listed")

    changed = services.ips_set_status(ips=SendingIP.objects.all(), status=IpStatus.PAUSED, actor=None, reason="DNSBL")

    assert changed == 2
    assert set(SendingIP.objects.values_list("status", flat=True)) == {IpStatus.PAUSED}
    entries = ip_audits("ip.paused")
    assert sorted(e.object_id for e in entries) == sorted(str(ip.pk) for ip in ips)
    assert [e.reason for e in entries if e.object_id == str(ips[1].pk)] == ["DNSBL"]
    assert entries[0].before == {"status": "active"} and entries[0].after == {"status": "paused"}


def test_setting_the_status_an_ip_already_has_changes_and_audits_nothing():
    ip = SendingIPFactory()
    assert services.ip_activate(ip=ip, actor=None) is False
    assert AuditLog.objects.count() == 0


def test_an_unknown_status_is_refused():
    ip = SendingIPFactory()
    with pytest.raises(ValueError, match="status: unknown IP status 'sleeping'"):
        services.ip_set_status(ip=ip, status="sleeping", actor=None)


def test_full_clean_refuses_an_invalid_ip_and_nothing_is_stored_or_audited():
    ip = SendingIPFactory()
    ip.reputation_score = "not a number"
    with pytest.raises(ValidationError) as error:
        services.ip_quarantine(ip=ip, actor=None)
    assert "reputation_score" in error.value.message_dict
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.ACTIVE
    assert AuditLog.objects.count() == 0


def test_the_admin_retire_action_goes_through_the_service(operator_client):
    ips = SendingIPFactory.create_batch(2)
    response = operator_client.post(
        "/admin/ips/sendingip/", {"action": "retire", "_selected_action": [ip.pk for ip in ips]}
    )
    assert response.status_code == 302
    entries = ip_audits("ip.retired")
    assert len(entries) == 2
    assert {e.actor_label for e in entries} == {"operator"}
    assert {e.reason for e in entries} == {"admin action"}


def test_a_bulk_pause_of_1000_ips_writes_1000_audit_entries_in_one_call(django_assert_max_num_queries):
    from apps.ips.services import ips_add_range

    ips_add_range(cidr="198.51.96.0/23", actor=None)  # 510 addresses
    ips_add_range(cidr="198.51.98.0/23", actor=None)
    AuditLog.objects.all().delete()
    assert SendingIP.objects.count() == 1020
    selection = SendingIP.objects.order_by("address")[:1000]
    with django_assert_max_num_queries(12):  # no per-row statements
        changed = services.ips_set_status(
            ips=SendingIP.objects.filter(pk__in=[ip.pk for ip in selection]), status=IpStatus.PAUSED, actor=None,
            reason="bulk",
        )  # fmt: skip
    assert changed == 1000
    assert SendingIP.objects.filter(status=IpStatus.PAUSED).count() == 1000
    assert AuditLog.objects.filter(action="ip.paused", reason="bulk").count() == 1000
