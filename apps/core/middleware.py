"""Request metrics for every request; every page needs a login, except the few endpoints listed here."""

from __future__ import annotations

import time
from functools import partial

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
    (``apps/core/request_metrics.py``). The Redis write waits for the response's ``close()``,
    which servers call once the body is sent: the client does not wait for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = request_metrics.start_request()
        started = time.perf_counter()
        response = None
        try:
            response = self.get_response(request)
            return response
        finally:
            done = partial(
                request_metrics.record, method=request.method, route=request_metrics.route_of(request),
                status=response.status_code if response is not None else 500,
                seconds=time.perf_counter() - started, api=request.path_info.startswith(request_metrics.API_PREFIX),
                noted=request_metrics.finish_request(token),
            )
            if response is not None:
                response._resource_closers.append(done)  # Django's own hook for work after the response
            else:
                done()
