"""Channel secrets are encrypted at rest with the portal's one encrypted field."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.alerts.models import Channel
from tests.alerts.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def test_a_channel_secret_is_not_stored_in_clear_and_reads_back():
    channel = ChannelFactory(secret="hmac-key-do-not-leak")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {Channel._meta.db_table} WHERE id = %s", [channel.pk])
        stored = cursor.fetchone()[0]
    assert "hmac-key-do-not-leak" not in stored
    assert Channel.objects.get(pk=channel.pk).secret == "hmac-key-do-not-leak"
