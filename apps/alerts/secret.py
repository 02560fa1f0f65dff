"""Where channel secrets (webhook HMAC keys, SMTP passwords, bot tokens) are stored.

Encrypted at rest with the portal's one encrypted field (``apps.core.fields.EncryptedTextField``,
MultiFernet over ``MAILMON_FIELD_KEYS``; rotate with ``manage.py reencrypt``). Every read and
write of a secret goes through this field, and the API never returns it.
"""

from __future__ import annotations

from apps.core.fields import EncryptedTextField


class SecretField(EncryptedTextField):
    """A write-only secret, encrypted at rest: serializers never output it; audit snapshots mask it."""

    secret = True
