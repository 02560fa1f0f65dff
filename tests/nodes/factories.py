"""Nodes of the fleet."""

from __future__ import annotations

import factory

from apps.nodes.choices import NodeRole, NodeStatus
from apps.nodes.models import Node


class NodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Node
        django_get_or_create = ["hostname"]

    hostname = factory.Sequence(lambda n: f"mx{n}.example.net")
    role = NodeRole.ZONEMTA
    status = NodeStatus.ONLINE
    address = factory.Sequence(lambda n: f"10.0.{n // 250}.{n % 250 + 1}")
