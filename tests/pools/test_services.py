"""IP pools: created, changed, deleted and filled only through apps.pools.services (validated, audited)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.core.models import AuditLog
from apps.ips.models import SendingIP
from apps.pools import services
from apps.pools.choices import PoolType
from apps.pools.models import IpPool
from tests.ips.factories import SendingIPFactory
from tests.pools.factories import IpPoolFactory

pytestmark = pytest.mark.django_db


def test_creating_a_pool_is_audited():
    pool = services.pool_create(name="transactional-eu", type=PoolType.TRANSACTIONAL, actor=None)
    entry = AuditLog.objects.get(action="pool.create")
    assert entry.object_id == str(pool.pk)
    assert entry.after == {"name": "transactional-eu", "type": "transactional", "description": ""}


@pytest.mark.parametrize(("name", "field"), [("not a slug!", "name"), ("taken", "name"), ("", "name")])
def test_full_clean_refuses_a_bad_or_taken_name(name, field):
    IpPoolFactory(name="taken")
    with pytest.raises(ValidationError) as error:
        services.pool_create(name=name, actor=None)
    assert field in error.value.message_dict
    assert IpPool.objects.count() == 1
    assert not AuditLog.objects.exists()


def test_an_unknown_type_is_refused():
    with pytest.raises(ValidationError) as error:
        services.pool_create(name="bulk", type="bulk", actor=None)
    assert "type" in error.value.message_dict


def test_updating_a_pool_audits_only_what_changed():
    pool = IpPoolFactory(name="news", type=PoolType.MARKETING)
    services.pool_update(pool=pool, actor=None, type=PoolType.MARKETING, description="Weekly newsletter")
    entry = AuditLog.objects.get(action="pool.change")
    assert entry.before == {"description": ""}
    assert entry.after == {"description": "Weekly newsletter"}
    services.pool_update(pool=pool, actor=None, description="Weekly newsletter")
    assert AuditLog.objects.filter(action="pool.change").count() == 1


def test_updating_refuses_fields_that_are_not_editable():
    pool = IpPoolFactory()
    with pytest.raises(ValueError, match="cannot change created_at"):
        services.pool_update(pool=pool, actor=None, created_at=None)


def test_deleting_a_pool_keeps_its_ips_without_a_pool():
    pool = IpPoolFactory(name="old")
    ips = SendingIPFactory.create_batch(2, pool=pool)
    services.pool_delete(pool=pool, actor=None)
    assert not IpPool.objects.exists()
    assert list(SendingIP.objects.filter(pk__in=[ip.pk for ip in ips]).values_list("pool", flat=True)) == [None, None]
    entry = AuditLog.objects.get(action="pool.delete")
    assert entry.object_id == str(ips[0].pool_id) and entry.before["ips"] == 2


def test_assigning_ips_moves_them_with_one_audit_entry_per_ip_that_moved():
    source, target = IpPoolFactory(name="a"), IpPoolFactory(name="b")
    ips = [SendingIPFactory(pool=source), SendingIPFactory(pool=source), SendingIPFactory(pool=target)]
    moved = services.pool_assign_ips(pool=target, ips=ips, actor=None, reason="rebalance")
    assert moved == 2
    assert set(SendingIP.objects.values_list("pool__name", flat=True)) == {"b"}
    entries = AuditLog.objects.filter(action="ip.pool_change")
    assert sorted(e.object_id for e in entries) == sorted(str(ip.pk) for ip in ips[:2])
    assert {(e.before["pool"], e.after["pool"], e.reason) for e in entries} == {("a", "b", "rebalance")}
    assert services.pool_assign_ips(pool=None, ips=ips[:1], actor=None) == 1
    assert SendingIP.objects.get(pk=ips[0].pk).pool is None


def test_the_admin_writes_pools_through_the_services_audited_once(admin_role_client):
    form = {"name": "alerts", "type": "notification", "description": ""}
    assert admin_role_client.post("/admin/pools/ippool/add/", form).status_code == 302
    pool = IpPool.objects.get(name="alerts")
    change = {**form, "description": "Password resets"}
    assert admin_role_client.post(f"/admin/pools/ippool/{pool.pk}/change/", change).status_code == 302
    assert admin_role_client.post("/admin/pools/ippool/add/", {**form, "name": "bad name"}).status_code == 200
    assert admin_role_client.post(f"/admin/pools/ippool/{pool.pk}/delete/", {"post": "yes"}).status_code == 302
    actions = list(AuditLog.objects.order_by("id").values_list("action", "actor_label"))
    assert actions == [("pool.create", "admin"), ("pool.change", "admin"), ("pool.delete", "admin")]
