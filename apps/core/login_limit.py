"""Login lockout through django-axes, configured from mailmon's own settings.

``MAILMON_LOGIN_RATE_LIMIT`` failures from one client address within
``MAILMON_LOGIN_RATE_WINDOW`` seconds lock that address out (429 + Retry-After)
until the window has passed or an admin deletes its *Access attempts* row.
Read at call time, so that a changed setting applies without a restart of axes.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from .netutil import client_address


def failure_limit(request: HttpRequest, credentials: dict | None = None) -> int:
    return settings.LOGIN_RATE_LIMIT


def cool_off(request: HttpRequest | None = None) -> dt.timedelta:
    return dt.timedelta(seconds=settings.LOGIN_RATE_WINDOW)


def client_ip(request: HttpRequest) -> str | None:
    """The address axes counts: behind a trusted proxy, the client's, not the proxy's."""
    return client_address(request.META)


def locked_out_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    from django.contrib.auth.forms import AuthenticationForm

    # Unbound: validating it again would call authenticate() and count one more failure.
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    response = TemplateResponse(
        request, "core/login.html", {"form": form, "rate_limited": True}, status=429
    ).render()
    response["Retry-After"] = str(settings.LOGIN_RATE_WINDOW)
    return response
