"""The portal side of the enforcement tests: pools and loopback sending IPs the MTAs obey.

127.0.0.2 and 127.0.0.3 are local addresses on Linux, so an MTA can really bind to them and the
sink sees which one a message came from."""

from __future__ import annotations

from apps.ips import services
from apps.ips.choices import IpStatus
from apps.ips.models import SendingIP
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

PREFERRED, OTHER, HELD = "127.0.0.2", "127.0.0.3", "127.0.0.9"


def loopback_pools(hostname: str, *, preferred_limit: int | None = 2) -> None:
    """Pool "transactional": 127.0.0.2 (weight 1000, ``preferred_limit`` sends a day) and 127.0.0.3
    (weight 1, unlimited); pool "marketing": a paused 127.0.0.9 only."""
    node = NodeFactory(hostname=hostname)
    transactional = IpPoolFactory(name="transactional", type="transactional")
    marketing = IpPoolFactory(name="marketing", type="marketing")
    SendingIPFactory(address=PREFERRED, node=node, pool=transactional, weight=1000, daily_limit=preferred_limit)
    SendingIPFactory(address=OTHER, node=node, pool=transactional, weight=1, daily_limit=None)
    SendingIPFactory(address=HELD, node=node, pool=marketing, status=IpStatus.PAUSED)


def pause(address: str) -> None:
    services.ip_pause(ip=SendingIP.objects.get(address=address), actor=None, reason="enforcement test")
