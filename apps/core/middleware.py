"""Request metrics for every request; every page needs a login, except the few endpoints listed here."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse

from . import request_metrics

PUBLIC_PREFIXES = ("/health", "/metrics", "/accounts/login/", "/static/", "/favicon.ico")
# The API authenticates itself (session or agent key) and answers 401/403 in JSON.
API_PREFIXES = ("/api/",)


class LoginRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if (
            request.user.is_authenticated
            or path.startswith(PUBLIC_PREFIXES)
            or path.startswith(API_PREFIXES)
            or path.startswith("/admin/")  # the admin has its own login
        ):
            return self.get_response(request)
        if request.headers.get("HX-Request"):
            response = JsonResponse({"detail": "Authentication required."}, status=401)
            response["HX-Redirect"] = settings.LOGIN_URL
            return response
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)


class RequestMetricsMiddleware:
    """Times each request through the rest of the chain and counts it by route pattern
    (``apps/core/request_metrics.py``: one Redis round trip, after the response is built)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = request_metrics.start_request()
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            path = request.path_info
            request_metrics.record(
                method=request.method, route=request_metrics.route_of(request), status=status,
                seconds=time.perf_counter() - started, api=path.startswith(request_metrics.API_PREFIX), token=token,
            )
