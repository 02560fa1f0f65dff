"""The three operator roles and the permissions each one holds.

Groups are kept in sync by ``manage.py sync_roles`` (run by migrate's
post_migrate hook in apps.py) so that later modules' models are picked up.
"""

from __future__ import annotations

VIEWER = "Viewer"
OPERATOR = "Operator"
ADMIN = "Admin"
ROLES = (VIEWER, OPERATOR, ADMIN)

# Apps whose models operators act on day to day.
OPERATIONAL_APPS = ["nodes", "ips", "pools", "events", "dnsbl", "alerts", "reports", "warmup"]


def has_role(user) -> bool:
    """Whether ``user`` may see anything at all: logged in, active, and in a role (or superuser).

    A user without a group is refused everywhere, like an anonymous one: pages, API,
    schema and docs, ``/health/detailed`` and the live websocket.
    """
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or user.groups.filter(name__in=ROLES).exists()


def role_permissions(role: str, permissions):
    """Which of ``permissions`` (a Permission queryset) the role gets."""
    mailmon = permissions.filter(content_type__app_label__in=OPERATIONAL_APPS + ["core"])
    if role == VIEWER:
        return mailmon.filter(codename__startswith="view_")
    if role == OPERATOR:
        operational = permissions.filter(content_type__app_label__in=OPERATIONAL_APPS)
        return mailmon.filter(codename__startswith="view_") | operational.exclude(codename__startswith="delete_")
    if role == ADMIN:
        return permissions.all()
    raise ValueError(f"unknown role {role!r}")


def sync_roles(**_kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role, Permission.objects.all()))
