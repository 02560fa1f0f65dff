"""The IP API: the table, bulk actions (1,000 IPs in one request), CIDR ranges, warmup; pools CRUD."""

from __future__ import annotations

import pytest

from apps.core.models import AuditLog
from apps.ips.choices import IpStatus
from apps.ips.models import SendingIP
from apps.ips.services import ips_add_range
from apps.pools.models import IpPool
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ips():
    pool = IpPoolFactory(name="bulk")
    node = NodeFactory(hostname="mta-1")
    return [SendingIPFactory(address=f"198.51.100.{i}", pool=pool, node=node) for i in range(1, 5)]


def test_the_ip_list_filters_sorts_and_pages(viewer_client, ips):
    response = viewer_client.get("/api/v1/ips", {"q": "198.51.100.0/30", "sort": "-address", "page_size": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [r["address"] for r in body["results"]] == ["198.51.100.3", "198.51.100.2"]
    row = body["results"][0]
    assert row["version"] == 4 and row["pool"] == "bulk" and row["node"] == "mta-1" and row["sent_24h"] == 0
    assert row["dnsbl_listings"] == []


@pytest.mark.parametrize(("query", "field"), [({"q": "1.2.3.4/99"}, "q"), ({"sort": "x"}, "sort"),
                                               ({"version": "5"}, "version"), ({"pool": "abc"}, "pool")])
def test_bad_ip_list_parameters_are_a_400_naming_the_field(viewer_client, ips, query, field):
    response = viewer_client.get("/api/v1/ips", query)
    assert response.status_code == 400 and field in response.json()


def test_a_bulk_pause_of_1000_ips_in_one_request_writes_1000_audit_entries(operator_client):
    ips_add_range(cidr="198.51.96.0/23", actor=None)
    ips_add_range(cidr="198.51.98.0/23", actor=None)
    addresses = list(SendingIP.objects.order_by("address").values_list("address", flat=True)[:1000])
    response = operator_client.post(
        "/api/v1/ips/bulk", {"ips": addresses, "action": "pause", "reason": "maintenance"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {"action": "pause", "pool": None, "matched": 1000, "changed": 1000, "unchanged": 0}
    assert SendingIP.objects.filter(status=IpStatus.PAUSED).count() == 1000
    assert AuditLog.objects.filter(action="ip.paused", reason="maintenance", actor_label="operator").count() == 1000


def test_bulk_by_filter_and_assign_pool(operator_client, ips):
    target = IpPoolFactory(name="target")
    response = operator_client.post(
        "/api/v1/ips/bulk", {"filter": {"q": "198.51.100.0/31"}, "action": "assign_pool", "pool": target.pk},
        content_type="application/json",
    )  # fmt: skip
    assert response.json()["changed"] == 1  # 198.51.100.1 (.0 is not an IP here)
    assert SendingIP.objects.get(address="198.51.100.1").pool == target


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "pause"}, "ips"),
        ({"ips": ["198.51.100.1"], "filter": {}, "action": "pause"}, "ips"),
        ({"ips": ["203.0.113.9"], "action": "pause"}, "ips"),
        ({"ips": ["198.51.100.1"], "action": "explode"}, "action"),
        ({"ips": ["198.51.100.1"], "action": "assign_pool"}, "pool"),
        ({"filter": {"q": "x/99"}, "action": "pause"}, "filter"),
    ],
)
def test_bad_bulk_requests_are_a_400_naming_the_field(operator_client, ips, body, field):
    response = operator_client.post("/api/v1/ips/bulk", body, content_type="application/json")
    assert response.status_code == 400 and field in response.json(), response.json()


def test_a_viewer_cannot_bulk_change(viewer_client, ips):
    response = viewer_client.post("/api/v1/ips/bulk", {"ips": ["198.51.100.1"], "action": "pause"},
                                  content_type="application/json")  # fmt: skip
    assert response.status_code == 403


def test_range_dry_run_then_add(operator_client):
    node = NodeFactory(hostname="mta-9")
    preview = operator_client.post("/api/v1/ips/range", {"cidr": "203.0.113.0/30", "node": node.pk, "dry_run": True},
                                   content_type="application/json")  # fmt: skip
    assert preview.status_code == 200
    assert preview.json()["first"] == ["203.0.113.1", "203.0.113.2"] and preview.json()["created"] == 0
    added = operator_client.post("/api/v1/ips/range", {"cidr": "203.0.113.0/30", "node": node.pk},
                                 content_type="application/json")  # fmt: skip
    assert added.status_code == 201 and added.json()["created"] == 2
    assert SendingIP.objects.filter(node=node).count() == 2


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "2001:db8::/64", "garbage", "198.51.100.1/24"])
def test_a_bad_range_is_a_400_naming_cidr(operator_client, cidr):
    response = operator_client.post("/api/v1/ips/range", {"cidr": cidr}, content_type="application/json")
    assert response.status_code == 400 and response.json()["cidr"][0].startswith("cidr: ")


def test_put_warmup_starts_and_ends_a_warmup(operator_client, ips):
    url = "/api/v1/ips/198.51.100.1/warmup"
    response = operator_client.put(url, {"schedule": "default", "day": 3}, content_type="application/json")
    assert response.status_code == 200
    assert (response.json()["warmup_day"], response.json()["daily_limit"]) == (3, 200)
    ended = operator_client.put(url, {"schedule": None}, content_type="application/json")
    assert ended.json()["warmup_schedule"] is None and ended.json()["daily_limit"] is None
    assert operator_client.put(url, {"schedule": "nope"}, content_type="application/json").status_code == 400
    too_far = operator_client.put(url, {"schedule": "default", "day": 99}, content_type="application/json")
    assert too_far.status_code == 400 and "day" in too_far.json()
    assert operator_client.put("/api/v1/ips/203.0.113.5/warmup", {"schedule": None},
                               content_type="application/json").status_code == 404  # fmt: skip


def test_pools_crud(operator_client, admin_role_client, ips):
    created = operator_client.post("/api/v1/ips/pools", {"name": "news", "type": "marketing"},
                                   content_type="application/json")  # fmt: skip
    assert created.status_code == 201
    pk = created.json()["id"]
    listed = operator_client.get("/api/v1/ips/pools").json()
    assert {p["name"]: p["ip_count"] for p in listed["results"]} == {"bulk": 4, "news": 0}
    changed = operator_client.patch(f"/api/v1/ips/pools/{pk}", {"description": "weekly"},
                                    content_type="application/json")  # fmt: skip
    assert changed.json()["description"] == "weekly"
    dup = operator_client.post("/api/v1/ips/pools", {"name": "bulk"}, content_type="application/json")
    assert dup.status_code == 400 and "name" in dup.json()
    assert operator_client.delete(f"/api/v1/ips/pools/{pk}").status_code == 403  # operators do not delete
    assert admin_role_client.delete(f"/api/v1/ips/pools/{pk}").status_code == 204
    assert not IpPool.objects.filter(pk=pk).exists()
    assert AuditLog.objects.filter(action__startswith="pool.").count() == 3
