"""Core pages and endpoints: login, health, metrics."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import health, metrics
from .roles import has_role


class LoginView(auth_views.LoginView):
    """Django's login; django-axes (apps/core/login_limit.py) answers 429 to a locked-out address."""

    template_name = "core/login.html"
    redirect_authenticated_user = True


@never_cache
@require_GET
def health_view(request):
    body, status = health.health_body()
    return JsonResponse(body, status=status)


@never_cache
@require_GET
def health_live(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def health_detailed(request):
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Authentication required."}, status=401)
    if not has_role(request.user):
        return JsonResponse({"detail": "Your account has no mailmon role."}, status=403)
    body, status = health.health_body(detailed=True)
    return JsonResponse(body, status=status)


@never_cache
@require_GET
def metrics_view(request):
    token = settings.MAILMON_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse("bearer token required\n", status=401, content_type="text/plain")
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")


def module_pending(request, *, module: str, summary: str):
    """The page of a module whose issue has not landed yet: say so plainly."""
    from django.shortcuts import render

    return render(request, "core/pending.html", {"module": module, "summary": summary})
