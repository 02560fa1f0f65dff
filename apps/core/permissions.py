"""Permissions shared by pages, API and admin: Django model permissions via groups.

Viewer may view, Operator may also change operational objects, Admin may do
everything (see ``apps/core/roles.py``).
"""

from __future__ import annotations

from rest_framework import permissions

from .agent_auth import AgentPrincipal
from .roles import has_role


class ModelPermissions(permissions.DjangoModelPermissions):
    """Like DRF's, but reads need the ``view`` permission too."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
    }


class HasPerm(permissions.BasePermission):
    """Staff endpoints that are not tied to one queryset name their permission: ``HasPerm.of("x.y")``."""

    perm: str = ""

    @classmethod
    def of(cls, perm: str) -> type[HasPerm]:
        return type(f"HasPerm_{perm.replace('.', '_')}", (cls,), {"perm": perm})

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(self.perm))


class HasRole(permissions.BasePermission):
    """Any role (Viewer, Operator, Admin): the OpenAPI schema and docs, which show no data but
    describe every endpoint, are for the portal's users only."""

    def has_permission(self, request, view) -> bool:
        return has_role(request.user)


class IsAgent(permissions.BasePermission):
    """Only requests authenticated with an agent API key."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, AgentPrincipal)
