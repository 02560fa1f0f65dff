from __future__ import annotations

import factory

from apps.warmup.models import WarmupMailbox
from tests.core.factories import UserFactory

PASSWORD = "s3cret-Pa55word-for-warmup"


class MailboxFactory(factory.django.DjangoModelFactory):
    """A mailbox on the loopback SMTP server of the ``smtp_server`` fixture (set smtp_port)."""

    class Meta:
        model = WarmupMailbox

    owner = factory.SubFactory(UserFactory)
    address = factory.Sequence(lambda n: f"box{n}@d{n % 3}.example.test")
    smtp_host = "127.0.0.1"
    smtp_port = 2525
    smtp_security = "none"
    username = factory.LazyAttribute(lambda o: o.address)
    password = PASSWORD
    provider = factory.Sequence(lambda n: ("gmail", "microsoft", "yahoo")[n % 3])
