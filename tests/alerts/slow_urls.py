"""The portal's URLs plus one API route that answers after ``?ms=`` milliseconds (tests only)."""

from __future__ import annotations

import time

from django.http import JsonResponse
from django.urls import path

from mailmon.urls import urlpatterns as portal_urlpatterns


def slow(request):
    time.sleep(int(request.GET.get("ms", "0")) / 1000)
    return JsonResponse({"ok": True})


urlpatterns = [path("api/v1/test/slow", slow), *portal_urlpatterns]
