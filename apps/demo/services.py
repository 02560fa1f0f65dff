"""The demo fleet, its admin login and the simulator's key: ``manage.py load_demo`` (``make demo``).

The fleet comes from ``apps/demo/fixtures/demo_fleet.json``.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from apps.core.models import AgentAPIKey
from apps.core.roles import ADMIN
from apps.ips.models import SendingIP
from apps.nodes.choices import NodeStatus
from apps.nodes.models import Node
from apps.pools.models import IpPool

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "demo_fleet.json"
DEMO_KEY_FILE = "demo_agent_key"


@transaction.atomic
def demo_fleet_load(*, fixture: Path = FIXTURE) -> dict[str, int]:
    """Create (or refresh) the demo nodes, pools and sending IPs; idempotent."""
    spec = json.loads(fixture.read_text())
    pools = {}
    for row in spec["pools"]:
        pools[row["name"]], _ = IpPool.objects.update_or_create(name=row["name"], defaults=row)
    nodes = {}
    now = timezone.now()
    for row in spec["nodes"]:
        defaults = {**row, "status": NodeStatus.ONLINE, "last_seen": now}
        nodes[row["hostname"]], _ = Node.objects.update_or_create(hostname=row["hostname"], defaults=defaults)
    ips = 0
    for block in spec["ip_ranges"]:
        network = ipaddress.ip_network(block["cidr"])
        for i, address in enumerate(network):  # the whole block is routed to the node
            pool = pools[block["pools"][i % len(block["pools"])]]
            ptr = block["ptr"].format(octet=str(address).rsplit(".", 1)[-1])
            SendingIP.objects.update_or_create(
                address=str(address), defaults={"node": nodes[block["node"]], "pool": pool, "ptr": ptr}
            )
            ips += 1
    return {"pools": len(pools), "nodes": len(nodes), "ips": ips}


def demo_admin_ensure(*, password: str | None) -> tuple[str, str]:
    """Create or reset the 'admin' superuser; the generated password is kept in var/ so that
    every ``make demo`` can print the login."""
    User = get_user_model()
    password_file = Path(settings.VAR_DIR) / "demo_admin_password"
    if not password:
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()
    user = User.objects.filter(username="admin").first()
    if user is None:
        user = User.objects.create_superuser("admin", "admin@example.com", password)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=ADMIN))
    return "admin", password


def demo_agent_key_ensure() -> str:
    """A fleet-wide key for the demo traffic simulator, kept in var/ (loopback only)."""
    key_file = Path(settings.VAR_DIR) / DEMO_KEY_FILE
    if key_file.exists():
        key = key_file.read_text().strip()
        if AgentAPIKey.objects.is_valid(key):
            return key
    _, key = AgentAPIKey.objects.create_key(name="demo-simulator", allowed_cidrs=["127.0.0.0/8", "::1/128"])
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key
