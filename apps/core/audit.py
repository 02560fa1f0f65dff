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
    data = {}
    for name in names:
        value = getattr(obj, name)
        data[name] = value if isinstance(value, int | float | bool | str | type(None)) else str(value)
    return data


def audit_entry(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    remote_addr: str | None = None,
) -> AuditLog:
    """One operator action as an unsaved row: :func:`audit_record` saves one, bulk writers
    (``AuditLog.objects.bulk_create``) save thousands in one statement."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditLog(
        actor=user,
        actor_label=actor_label(actor),
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:255],
        before=before,
        after=after,
        reason=reason,
        remote_addr=remote_addr,
    )


def audit_record(**fields: Any) -> AuditLog:
    """Record one operator action. ``actor`` is a user, an API key, or None for the system
    (keyword arguments as :func:`audit_entry`)."""
    entry = audit_entry(**fields)
    entry.save()
    return entry
