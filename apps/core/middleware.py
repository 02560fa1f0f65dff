"""Every page needs a login, except the few endpoints listed here."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse

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
