"""The shared encrypted field: secrets are tokens in the database, readable after key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from apps.core.audit import snapshot
from apps.core.fields import SecretDecryptError, encrypted_fields
from apps.warmup.models import WarmupMailbox

from .factories import PASSWORD, MailboxFactory

pytestmark = pytest.mark.django_db


def raw(column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM warmup_warmupmailbox WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_the_password_is_stored_as_a_token_and_read_back_in_clear():
    mailbox = MailboxFactory(imap_password="imap-" + PASSWORD)
    stored = raw("password", mailbox.pk)
    assert PASSWORD not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert PASSWORD not in raw("imap_password", mailbox.pk)
    again = WarmupMailbox.objects.get(pk=mailbox.pk)
    assert again.password == PASSWORD and again.imap_password == "imap-" + PASSWORD


def test_an_empty_secret_stays_empty():
    mailbox = MailboxFactory(password="")
    assert raw("password", mailbox.pk) == ""


def test_the_warmup_passwords_are_found_through_the_model_registry():
    found = {model._meta.label: names for model, names in encrypted_fields()}
    assert found["warmup.WarmupMailbox"] == ["password", "imap_password"]


def test_reencrypt_moves_every_row_to_the_new_key_and_keeps_it_readable(settings):
    old_key = settings.MAILMON_FIELD_KEYS[0]
    mailboxes = MailboxFactory.create_batch(3)
    before = {m.pk: raw("password", m.pk) for m in mailboxes}
    new_key = Fernet.generate_key().decode()
    settings.MAILMON_FIELD_KEYS = [new_key, old_key]
    call_command("reencrypt", batch_size=2)
    for mailbox in mailboxes:
        token = raw("password", mailbox.pk)
        assert token != before[mailbox.pk]
        assert Fernet(new_key.encode()).decrypt(token.encode()).decode() == PASSWORD
    settings.MAILMON_FIELD_KEYS = [new_key]  # the old key is gone: every row still reads
    assert [m.password for m in WarmupMailbox.objects.all()] == [PASSWORD] * 3


def test_a_row_under_a_removed_key_fails_loudly_naming_the_field(settings):
    MailboxFactory()
    settings.MAILMON_FIELD_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretDecryptError, match="WarmupMailbox.password"):
        list(WarmupMailbox.objects.all())


def test_audit_snapshots_mask_secrets():
    data = snapshot(MailboxFactory())
    assert data["password"] == "********"
    assert PASSWORD not in str(data)
