"""The OpenAPI description of POST /api/v1/events/ingest cannot drift from the wire format.

``WireEvent`` (msgspec) is what the endpoint enforces; the schema is written with a DRF
serializer for drf-spectacular.  These tests compare the generated schema with the
struct, field by field, so a field added, renamed or re-limited on one side only fails.
"""

from __future__ import annotations

import msgspec
import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.events.services.inbox import INT32_MAX
from apps.events.wire import EVENT_TYPES, WireEvent

# Rules the wire enforces in Python after decoding, which the schema states as a format
# or pattern rather than as a length: the address needs a local part and a domain.
_PATTERNED = {"to", "enhanced_status"}
# 32-bit storage columns: the parser accepts int64, the storage rule refuses more.
_INT32_COLUMNS = {"delay_ms", "size"}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture(scope="module")
def operation(schema) -> dict:
    return schema["paths"]["/api/v1/events/ingest"]["post"]


@pytest.fixture(scope="module")
def documented(schema, operation) -> dict:
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["items"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _wire_fields() -> dict[str, msgspec.inspect.Field]:
    return {field.encode_name: field for field in msgspec.inspect.type_info(WireEvent).fields}


def _wire_type(field: msgspec.inspect.Field):
    kind = field.type
    if isinstance(kind, msgspec.inspect.UnionType):  # "X | None"
        (kind,) = [t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)]
    return kind


def test_the_documented_fields_are_the_wire_fields(documented):
    wire = _wire_fields()
    assert set(documented["properties"]) == set(wire)
    assert set(documented["required"]) == {name for name, field in wire.items() if field.required}


def test_optional_fields_are_documented_as_nullable(documented):
    for name, field in _wire_fields().items():
        assert documented["properties"][name].get("nullable", False) is (not field.required), name


def test_string_lengths_match_the_wire(documented):
    for name, field in _wire_fields().items():
        kind, prop = _wire_type(field), documented["properties"][name]
        if not isinstance(kind, msgspec.inspect.StrType):
            continue
        assert prop.get("maxLength") == kind.max_length, name
        if name in _PATTERNED:
            assert "format" in prop or "pattern" in prop, name
        else:
            assert prop.get("minLength", 0) == (kind.min_length or 0), name


def test_integer_ranges_match_the_wire(documented):
    for name, field in _wire_fields().items():
        kind, prop = _wire_type(field), documented["properties"][name]
        if not isinstance(kind, msgspec.inspect.IntType):
            continue
        assert prop["minimum"] == kind.ge, name
        assert prop["maximum"] == (INT32_MAX if name in _INT32_COLUMNS else kind.le), name


def test_the_event_types_are_the_wire_types(schema, documented):
    ref = documented["properties"]["type"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][ref]["enum"]) == set(EVENT_TYPES)


def test_the_schema_comes_from_the_view_that_serves_the_endpoint(operation):
    from django.urls import resolve

    from apps.events.ingest import EventIngestApi

    assert resolve("/api/v1/events/ingest").func.cls is EventIngestApi
    assert operation["operationId"] == "events_ingest"
    assert operation["security"] == [{"AgentApiKey": []}]
    assert {"202", "400", "401", "403", "413", "415", "429", "503"} <= set(operation["responses"])
    example = operation["requestBody"]["content"]["application/json"]["examples"]["OneDeliveredEvent"]["value"]
    assert isinstance(example, list) and set(example[0]) == set(_wire_fields())
