"""Sending IPs, on a node and in a pool."""

from __future__ import annotations

import factory

from apps.ips.models import SendingIP
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory


class SendingIPFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SendingIP

    address = factory.Sequence(lambda n: f"198.51.{100 + n // 250}.{n % 250 + 1}")
    node = factory.SubFactory(NodeFactory)
    pool = factory.SubFactory(IpPoolFactory)
