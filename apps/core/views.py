"""Core pages and endpoints: login, health, metrics."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import health, metrics, ratelimit
from .netutil import client_address


class LoginView(auth_views.LoginView):
    """Django's login, refusing with 429 after too many failures from one address or for one user."""

    template_name = "core/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        address = client_address(request.META)
        username = request.POST.get("username", "")
        if ratelimit.login_blocked(address, username):
            response = self.render_to_response(
                self.get_context_data(form=self.get_form(), rate_limited=True), status=429
            )
            response["Retry-After"] = str(settings.LOGIN_RATE_WINDOW)
            return response
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            ratelimit.login_succeeded(address, username)
        else:
            ratelimit.login_failed(address, username)
        return response


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
