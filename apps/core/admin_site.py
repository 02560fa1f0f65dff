"""The admin site: open to every role (not only ``is_staff``), behind the one rate-limited login.

Model permissions decide what each role may see or change, exactly as on pages
and in the API. Django's own admin login would bypass the login rate limit, so
it sends people to ``/accounts/login/`` instead.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from .roles import ROLES


class MailmonAdminSite(admin.AdminSite):
    site_header = "mailmon admin"
    site_title = "mailmon admin"
    index_title = "Objects"
    site_url = "/"

    def has_permission(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        return user.is_staff or user.is_superuser or user.groups.filter(name__in=ROLES).exists()

    def login(self, request, extra_context=None):
        next_url = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
            next_url = reverse("admin:index")
        if not request.user.is_authenticated:
            return redirect_to_login(next_url, settings.LOGIN_URL)
        if not self.has_permission(request):
            # Logged in without a role: a redirect to the login page would loop.
            raise PermissionDenied("Your account has no mailmon role.")
        return redirect(next_url)

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def refuse_without_role(request, *args, **kwargs):
            # Django would send a logged-in user without a role to the login page again.
            if (
                request.user.is_authenticated
                and not self.has_permission(request)
                and request.path != reverse("admin:logout", current_app=self.name)
            ):
                raise PermissionDenied("Your account has no mailmon role.")
            return inner(request, *args, **kwargs)

        return refuse_without_role
