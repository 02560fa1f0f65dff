"""Users (with a role) and agent keys."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from apps.core.models import AgentAPIKey


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


def make_agent_key(name: str = "agent", **fields) -> tuple[AgentAPIKey, str]:
    """Create an agent key; returns (stored key, the clear key shown once)."""
    return AgentAPIKey.objects.create_key(name=name, **fields)
