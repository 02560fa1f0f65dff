"""The IP table's figure sorts (sent 1 h / 24 h / today, bounce %) on the cached per-IP figures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.ips.filters import IpFilters
from apps.ips.selectors import ip_table
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

pytestmark = pytest.mark.django_db

# address: (sent in the last hour, of which bounced; sent 3 hours ago (still within today when
# possible, else yesterday)). Ties on purpose: .2 and .3 send the same; 2001:db8::2 sorts after
# every IPv4 address on ties (PostgreSQL's inet order).
TRAFFIC = {
    "198.51.100.1": (4, 0, 0),
    "198.51.100.2": (1, 1, 5),
    "198.51.100.3": (1, 0, 5),
    "198.51.100.10": (0, 0, 2),
    "2001:db8::2": (1, 0, 5),
    "198.51.100.4": (0, 0, 0),  # silent: no bounce rate
}


@pytest.fixture
def traffic():
    node, pool, other = NodeFactory(hostname="mta-1"), IpPoolFactory(name="bulk"), IpPoolFactory(name="other")
    now = timezone.now()
    earlier = now - dt.timedelta(hours=3)
    rows = []
    for address, (recent, bounced, before) in TRAFFIC.items():
        SendingIPFactory(address=address, node=node, pool=other if address.endswith(".10") else pool)
        rows += [event(time=now, node_id=node.id, sending_ip=address,
                       type="bounced" if i < bounced else "delivered") for i in range(recent)]  # fmt: skip
        rows += [event(time=earlier, node_id=node.id, sending_ip=address) for _ in range(before)]
    store_events(rows)
    return now, earlier, pool


def expected(key: str, descending: bool, now, earlier, addresses) -> list[str]:
    """The order computed from TRAFFIC alone (no rollups, no SQL): ties by inet order."""
    import ipaddress

    def figure(address):
        recent, bounced, before = TRAFFIC[address]
        today = recent + (before if earlier.date() == now.date() else 0)
        sent = {"sent_1h": recent, "sent_24h": recent + before, "sent_today": today}
        if key == "bounce_rate":
            total = recent + before
            return None if not total else bounced / total
        return sent[key]

    def order(address):
        value, ip = figure(address), ipaddress.ip_address(address)
        return (value is None, (-1 if descending else 1) * (value or 0), ip.version, int(ip))

    return sorted(addresses, key=order)


@pytest.mark.parametrize("key", ["sent_1h", "sent_24h", "sent_today", "bounce_rate"])
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_each_figure_sorts_every_ip_with_ties_by_address(traffic, key, descending):
    now, earlier, _ = traffic
    table = ip_table(filters=IpFilters(), sort=("-" if descending else "") + key, page=1, page_size=50)
    assert table["count"] == len(TRAFFIC)
    assert [ip.address for ip in table["results"]] == expected(key, descending, now, earlier, list(TRAFFIC))


def test_a_filtered_figure_sort_pages_with_the_right_total(traffic):
    now, earlier, pool = traffic
    members = [a for a in TRAFFIC if not a.endswith(".10")]
    order = expected("sent_24h", True, now, earlier, members)
    pages = [ip_table(filters=IpFilters(pool=pool.pk), sort="-sent_24h", page=n, page_size=2) for n in (1, 2, 3)]
    assert {p["count"] for p in pages} == {len(members)}
    assert [ip.address for p in pages for ip in p["results"]] == order


def test_the_rows_show_the_figures_they_are_sorted_by(traffic):
    table = ip_table(filters=IpFilters(), sort="-bounce_rate", page=1, page_size=50)
    top = table["results"][0]
    assert top.address == "198.51.100.2"
    assert (top.stats["sent_1h"], top.stats["sent_24h"], top.stats["bounced_24h"]) == (1, 6, 1)
    assert top.stats["bounce_pct"] == pytest.approx(100 / 6)
    assert table["results"][-1].stats["bounce_rate"] is None


def test_a_figure_sort_reuses_its_windows_sums_for_the_cache_time(traffic, settings, django_assert_num_queries):
    node_id = traffic[2].ips.first().node_id
    ip_table(filters=IpFilters(), sort="-sent_1h")
    store_events([event(time=timezone.now(), node_id=node_id, sending_ip="198.51.100.4") for _ in range(9)])
    with django_assert_num_queries(4):  # matching ids, the page's rows, their other figures, their listings
        cached = ip_table(filters=IpFilters(), sort="-sent_1h")
    assert cached["results"][0].address == "198.51.100.1"  # ordered by the sums of the first call
    quiet = next(ip for ip in cached["results"] if ip.address == "198.51.100.4")
    assert (quiet.stats["sent_1h"], quiet.stats["sent_today"]) == (0, 9)  # the sorted column as sorted
    settings.MAILMON_IP_FIGURES_CACHE_SECONDS = 0
    assert ip_table(filters=IpFilters(), sort="-sent_1h")["results"][0].address == "198.51.100.4"


def test_a_plain_sort_reads_only_its_pages_figures(traffic):
    from django.core.cache import cache

    from apps.ips.selectors import FIGURES_CACHE_KEY

    first = ip_table(filters=IpFilters(), sort="address", page=1, page_size=2)
    assert [(ip.address, ip.stats["sent_24h"]) for ip in first["results"]] == [("198.51.100.1", 4),
                                                                                ("198.51.100.2", 6)]
    assert cache.get(f"{FIGURES_CACHE_KEY}:sent_24h") is None  # every IP's sums are for figure sorts only
    ip_table(filters=IpFilters(), sort="-bounce_rate")
    assert cache.get(f"{FIGURES_CACHE_KEY}:sent_24h")["198.51.100.2"] == (6, 1)
