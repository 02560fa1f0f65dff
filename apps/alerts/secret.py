"""Where channel secrets (webhook HMAC keys, SMTP passwords, bot tokens) are stored.

The switch point for encryption at rest: the portal's one encrypted field
(``apps.core.fields.EncryptedTextField``, MultiFernet over ``MAILMON_FIELD_KEYS``) is being
built on another branch. When it lands, make ``SecretField`` subclass it instead of
``TextField`` and run ``manage.py reencrypt``; nothing else in this module changes, because
every read and write of a secret goes through this field and the API never returns it.
"""

from __future__ import annotations

from django.db import models


class SecretField(models.TextField):
    """A write-only secret: serializers never output it; audit snapshots leave it out."""

    secret = True
