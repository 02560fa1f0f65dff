"""IP pools."""

from __future__ import annotations

import factory

from apps.pools.models import IpPool


class IpPoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IpPool
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"pool-{n}")
