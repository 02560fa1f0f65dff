"""CIDR ranges: limits, RFC 3021, existing addresses skipped, clear errors; the page and one audit row per IP."""

from __future__ import annotations

import pytest

from apps.core.models import AuditLog
from apps.ips import services
from apps.ips.models import SendingIP
from apps.ips.ranges import RangeError, parse_range
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory


@pytest.mark.parametrize(
    ("cidr", "count", "first", "last"),
    [
        ("198.51.100.0/24", 254, "198.51.100.1", "198.51.100.254"),  # network and broadcast left out
        ("198.51.100.0/30", 2, "198.51.100.1", "198.51.100.2"),
        ("198.51.100.0/31", 2, "198.51.100.0", "198.51.100.1"),  # RFC 3021: both usable
        ("198.51.100.7/32", 1, "198.51.100.7", "198.51.100.7"),
        ("198.51.100.7", 1, "198.51.100.7", "198.51.100.7"),
        ("2001:db8::/120", 256, "2001:db8::", "2001:db8::ff"),
        ("2001:DB8::1/128", 1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_a_range_expands_to_its_usable_addresses(cidr, count, first, last):
    block = parse_range(cidr)
    assert (len(block.addresses), block.addresses[0], block.addresses[-1]) == (count, first, last)


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("10.0.0.0/8", "holds 16,777,214 addresses; at most 1,000"),
        ("198.51.100.0/22", "holds 1,022 addresses"),
        ("2001:db8::/64", "at most 1,000"),
        ("10.0.0.0/7", "from /8 to /32"),
        ("2001:db8::/48", "from /64 to /128"),
        ("198.51.100.5/24", "host bits set; did you mean 198.51.100.0/24"),
        ("198.51.100.0/33", "is not CIDR notation"),
        ("not-an-ip", "is not CIDR notation"),
        ("", "required"),
    ],
)
def test_bad_or_too_large_ranges_are_refused_naming_cidr(cidr, message):
    with pytest.raises(RangeError, match=message) as error:
        parse_range(cidr)
    assert str(error.value).startswith("cidr: ")


@pytest.mark.django_db
def test_adding_a_range_skips_known_addresses_and_audits_each_new_ip():
    node, pool = NodeFactory(hostname="mta-1"), IpPoolFactory(name="bulk")
    SendingIPFactory(address="198.51.100.3")
    preview = services.ips_add_range(cidr="198.51.100.0/29", node=node, pool=pool, dry_run=True, actor=None)
    assert (preview["count"], preview["existing"], preview["created"]) == (5, ["198.51.100.3"], 0)
    assert preview["first"] == ["198.51.100.1", "198.51.100.2", "198.51.100.4", "198.51.100.5", "198.51.100.6"]
    assert SendingIP.objects.count() == 1

    done = services.ips_add_range(cidr="198.51.100.0/29", node=node, pool=pool, subnet_label="rack-1", actor=None)
    assert done["created"] == 5
    assert SendingIP.objects.filter(node=node, pool=pool, subnet_label="rack-1").count() == 5
    assert AuditLog.objects.filter(action="ip.create").count() == 5
    again = services.ips_add_range(cidr="198.51.100.0/29", actor=None)
    assert (again["count"], again["existing_count"], again["created"]) == (0, 6, 0)
    assert SendingIP.objects.count() == 6


@pytest.mark.django_db
def test_the_range_page_previews_then_adds(operator_client):
    page = operator_client.get("/ips/range/")
    assert page.status_code == 200
    preview = operator_client.post("/ips/range/", {"cidr": "2001:db8::/126", "dry_run": "1"})
    assert "4 new addresses would be added" in preview.content.decode()
    added = operator_client.post("/ips/range/", {"cidr": "2001:db8::/126", "dry_run": "0"})
    assert "4 addresses added" in added.content.decode()
    assert SendingIP.objects.count() == 4
    bad = operator_client.post("/ips/range/", {"cidr": "10.0.0.0/8", "dry_run": "1"})
    assert bad.status_code == 400 and "cidr:" in bad.content.decode()


@pytest.mark.django_db
def test_a_viewer_cannot_add_ranges(viewer_client):
    assert viewer_client.post("/ips/range/", {"cidr": "198.51.100.0/30", "dry_run": "0"}).status_code == 403
