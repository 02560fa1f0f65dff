"""Encrypted model fields: secrets (SMTP/IMAP passwords, webhook tokens) encrypted at rest.

Values are Fernet tokens (AES-128-CBC + HMAC-SHA256, from the maintained ``cryptography``
package) under a :class:`MultiFernet` built from ``MAILMON_FIELD_KEYS``: the first key
encrypts, every key decrypts, so a key is rotated by putting a new one first, running
``manage.py reencrypt`` and then dropping the old one. ``SECRET_KEY`` is never used.

In Python the attribute holds the clear text; only the database sees tokens. Fields are
found through Django's own model registry (:func:`encrypted_fields`), so core never imports
the apps that use them. ``snapshot()`` in ``apps.core.audit`` masks them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

MASK = "********"


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "MAILMON_FIELD_KEYS: at least one Fernet key is required to store or read secrets "
            "(generate one: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    return MultiFernet([Fernet(key.encode()) for key in keys])


def field_cipher() -> MultiFernet:
    return _multifernet(tuple(settings.MAILMON_FIELD_KEYS))


def encrypt(value: str) -> str:
    return field_cipher().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return field_cipher().decrypt(token.encode()).decode()


class SecretDecryptError(ImproperlyConfigured):
    """A stored secret cannot be read with any of the configured keys."""


class EncryptedTextField(models.TextField):
    """A text field stored as a Fernet token; ``""`` stays ``""`` (no secret set).

    Not searchable or orderable (tokens are randomised). Forms should render it write-only.
    """

    secret = True  # audit snapshots and serializers mask fields carrying this flag

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return decrypt(value)
        except InvalidToken as exc:
            raise SecretDecryptError(
                f"{self.model._meta.label}.{self.name}: stored secret does not decrypt with MAILMON_FIELD_KEYS "
                "(was a key removed before `manage.py reencrypt` ran?)"
            ) from exc

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)


def encrypted_fields() -> Iterator[tuple[type[models.Model], list[str]]]:
    """Every installed model with encrypted fields, and their names (the registry is Django's)."""
    from django.apps import apps

    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            yield model, names


def reencrypt_all(*, batch_size: int = 500) -> dict[str, int]:
    """Rewrite every stored secret under the first key; returns rows rewritten per model.

    Each row is decrypted (with any key) and written back encrypted with the first key, one
    UPDATE per row inside one transaction per batch, so a failure leaves every row readable.
    """
    from django.db import transaction

    counts: dict[str, int] = {}
    for model, names in encrypted_fields():
        done = 0
        pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(pks), batch_size):
            with transaction.atomic():
                rows = model._default_manager.filter(pk__in=pks[start : start + batch_size])
                for pk, *values in rows.select_for_update().values_list("pk", *names):
                    model._default_manager.filter(pk=pk).update(**dict(zip(names, values, strict=True)))
                    done += 1
        counts[model._meta.label] = done
    return counts


def generate_key() -> str:
    return Fernet.generate_key().decode()
