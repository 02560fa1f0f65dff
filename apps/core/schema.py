"""OpenAPI schema generation: component names for the nested Input/Output serializers.

Every API view declares its serializers as nested classes (``NodeListApi.OutputSerializer``);
drf-spectacular would name all of them "Output" and warn about the clash. Here a nested
serializer is named after its whole qualified name instead: ``NodeListOutput``.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

_SUFFIXES = ("Serializer", "APIView", "Api", "View")


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
