"""API errors: DRF's handler, with every 4xx body naming the fields at fault."""

from __future__ import annotations

from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

# Django's form-body limits (DATA_UPLOAD_MAX_NUMBER_FIELDS/FILES) raise while DRF parses a body;
# DRF leaves them to Django, whose answer is an HTML page: answer JSON like every other 400.
_BODY_LIMITS = (TooManyFieldsSent, TooManyFilesSent)


def exception_handler(exc, context):
    if isinstance(exc, _BODY_LIMITS):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        response.data = {"non_field_errors": response.data}
    return response
