"""API errors: DRF's handler, with every 4xx body naming the fields at fault."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .db_gate import is_unavailable

log = logging.getLogger(__name__)

# Django's form-body limits (DATA_UPLOAD_MAX_NUMBER_FIELDS/FILES) raise while DRF parses a body;
# DRF leaves them to Django, whose answer is an HTML page: answer JSON like every other 400.
_BODY_LIMITS = (TooManyFieldsSent, TooManyFilesSent)


def exception_handler(exc, context):
    if isinstance(exc, _BODY_LIMITS):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if is_unavailable(exc):
        # PostgreSQL unreachable: the agents' and scripts' retry contract (503 + Retry-After), not a 500.
        log.warning("API: database unavailable", exc_info=True)
        return Response(
            {"detail": "Database unavailable; try again later."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(settings.MAILMON_INGEST_RETRY_AFTER)},
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        response.data = {"non_field_errors": response.data}
    return response


def not_found(request, exception=None):
    """Django's 404 for URLs no route matches: JSON under /api/ (what API clients parse), else the page."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def bad_request(request, exception=None):
    """Django's own 400s (e.g. too many form fields, a suspicious request): JSON under /api/."""
    from django.http import JsonResponse
    from django.views.defaults import bad_request as page_bad_request

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Bad request: the body or headers could not be read."}, status=400)
    return page_bad_request(request, exception)
