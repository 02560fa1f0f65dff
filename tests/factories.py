"""Factories shared across test packages (one module per app would re-import these)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from apps.core.models import AgentAPIKey
from apps.ips.models import SendingIP
from apps.nodes.choices import NodeRole, NodeStatus
from apps.nodes.models import Node
from apps.pools.models import IpPool


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class NodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Node
        django_get_or_create = ["hostname"]

    hostname = factory.Sequence(lambda n: f"mx{n}.example.net")
    role = NodeRole.ZONEMTA
    status = NodeStatus.ONLINE
    address = factory.Sequence(lambda n: f"10.0.{n // 250}.{n % 250 + 1}")


class IpPoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IpPool
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"pool-{n}")


class SendingIPFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SendingIP

    address = factory.Sequence(lambda n: f"198.51.{100 + n // 250}.{n % 250 + 1}")
    node = factory.SubFactory(NodeFactory)
    pool = factory.SubFactory(IpPoolFactory)


def make_agent_key(name: str = "agent", **fields) -> tuple[AgentAPIKey, str]:
    """Create an agent key; returns (stored key, the clear key shown once)."""
    return AgentAPIKey.objects.create_key(name=name, **fields)
