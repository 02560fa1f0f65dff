"""OpenAPI schema generation: component names, and the error answers of every operation.

Every API view declares its serializers as nested classes (``NodeListApi.OutputSerializer``);
drf-spectacular would name all of them "Output" and warn about the clash. Here a nested
serializer is named after its whole qualified name instead: ``NodeListOutput``.

Every operation also documents the 4xx answers it can give, with the one error body
(``Error``: ``detail``, or each field at fault with its messages): 400 when it takes
parameters or a body, 415 when it takes a body, 401 + 403 for agent keys, 403 for staff sessions, 404 for a page
beyond the last or a path naming no object. A view's own ``extend_schema(responses=...)`` for a code wins.

IP address fields accepting both families are documented as IPv4 or IPv6 (drf-spectacular
alone says only "string").
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent

from .agent_auth import AgentKeyAuthentication

_SUFFIXES = ("Serializer", "APIView", "Api", "View")

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "A 4xx answer. `detail` describes the request as a whole; otherwise each field at fault "
        "maps to its messages (an object for nested fields), `non_field_errors` to the rest."
    ),
    "properties": {
        "detail": {"type": "string"},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}]},
}
BAD_INPUT = "Bad parameters or body; the answer names each field at fault."
BAD_MEDIA_TYPE = "Body in a media type the endpoint does not read (send application/json)."
AGENT_ERRORS = {
    "401": "Missing, malformed, unknown, revoked or expired API key.",
    "403": "Key used from outside its CIDR allowlist, or speaking for another node than its own.",
}
SESSION_ERRORS = {"403": "Not logged in, or the account lacks the permission this endpoint needs."}
PAGE_MISSING = "Page beyond the last one."
NOT_FOUND = "No such object (the path names none, or none the caller may see)."
IP_SCHEMA = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}


def _short(part: str) -> str:
    for suffix in _SUFFIXES:
        if part.endswith(suffix) and part != suffix:
            return part[: -len(suffix)]
    return part


def component_name(cls: type) -> str:
    parts = cls.__qualname__.split(".")
    if len(parts) == 1 or "<locals>" in parts:
        return cls.__name__
    return "".join(_short(part) for part in parts)


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        return component_name(type(serializer))

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error = self._error_component()
        for code, description in self._error_answers(operation).items():
            operation["responses"].setdefault(
                code, {"description": description, "content": {"application/json": {"schema": error}}}
            )
        return operation

    def _error_answers(self, operation: dict) -> dict[str, str]:
        answers: dict[str, str] = {}
        if operation.get("parameters") or operation.get("requestBody"):
            answers["400"] = BAD_INPUT
        if operation.get("requestBody"):
            answers["415"] = BAD_MEDIA_TYPE  # DRF's parsers refuse other or unreadable media types
        agent = any(isinstance(auth, AgentKeyAuthentication) for auth in self.view.get_authenticators())
        answers |= AGENT_ERRORS if agent else SESSION_ERRORS
        if self._is_list_view() and self._get_paginator() is not None:
            answers["404"] = PAGE_MISSING
        elif any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
            answers["404"] = NOT_FOUND
        return answers

    def _error_component(self) -> dict:
        component = ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA)
        self.registry.register_on_missing(component)
        return component.ref


class IPAddressFieldExtension(OpenApiSerializerFieldExtension):
    """``serializers.IPAddressField`` (and model ``GenericIPAddressField``s): ipv4, ipv6 or either."""

    target_class = "rest_framework.fields.IPAddressField"

    def map_serializer_field(self, auto_schema, direction) -> dict:
        protocol = self.target.protocol.lower()
        if protocol in ("ipv4", "ipv6"):
            return {"type": "string", "format": protocol}
        return dict(IP_SCHEMA)
