"""The one helper that writes the audit log; every module records operator actions through it."""

from __future__ import annotations

from typing import Any

from django.db import models

from .models import AuditLog


def actor_label(actor: Any) -> str:
    if actor is None:
        return "system"
    if getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return str(getattr(actor, "name", actor))


def snapshot(obj: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """A JSON-ready dict of an object's concrete fields, for before/after."""
    names = fields or [f.attname for f in obj._meta.concrete_fields]
    secret = {f.attname for f in obj._meta.concrete_fields if getattr(f, "secret", False)}
    data = {}
    for name in names:
        value = getattr(obj, name)
        if name in secret:  # encrypted fields (apps.core.fields): whether set, never the value
            value = "********" if value else ""
        data[name] = value if isinstance(value, int | float | bool | str | type(None)) else str(value)
    return data


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    remote_addr: str | None = None,
) -> AuditLog:
    """Record one operator action. ``actor`` is a user, an API key, or None for the system."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditLog.objects.create(
        actor=user,
        actor_label=actor_label(actor),
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=str(obj)[:255] if obj is not None else "",
        before=before,
        after=after,
        reason=reason,
        remote_addr=remote_addr,
    )
