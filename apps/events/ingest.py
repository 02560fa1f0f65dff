"""``POST /api/v1/events/ingest``: the MTAs' delivery events (contract: docs/events.md).

:class:`EventIngestApi` is a DRF view for routing and the OpenAPI schema only: it does
not parse, authenticate or serialize per event through DRF, because at 50,000 events/s
the per-event cost of DRF serializers (~34 us) is the whole budget.  Its ``post`` hands
the plain request to :func:`event_ingest`, which authenticates the key once, reads the
body raw (any framing, gzip), parses it with msgspec (apps.events.wire) and writes it to
the inbox (apps.events.services.inbox).

Status codes are the shippers' retry contract: 202 = stored durably, 4xx = never send
this body again, 429/503 (with Retry-After) and any 5xx = send it again later.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from apps.core.agent_auth import AgentAuthError, AgentKeyScheme, authenticate_agent
from apps.core.agent_limits import agent_rate_check
from apps.core.db_gate import DatabaseGate, DatabaseUnavailable
from apps.core.metrics import counter_inc, declare_counter
from apps.nodes.services import NodeRegistrationRefused, nodes_ensure

from .choices import EventType
from .services import InboxFull, ingest_batch_create, ingest_prepare
from .wire import ParsedBatch, WireError, parse_batch

log = logging.getLogger(__name__)

ACCEPTED_COUNTER = "mailmon_events_accepted_total"
REJECTED_COUNTER = "mailmon_events_rejected_total"
declare_counter(ACCEPTED_COUNTER, "Delivery events accepted by POST /api/v1/events/ingest")
declare_counter(REJECTED_COUNTER, "Delivery events rejected by POST /api/v1/events/ingest (invalid)")
# After a connection failure this process answers 503 at once for MAILMON_INGEST_RETRY_AFTER s.
DATABASE_GATE = DatabaseGate("ingest")


def event_ingest(request: HttpRequest) -> JsonResponse:
    """Serve one ingest POST (EventIngestApi routes it here; DRF answers other methods 405)."""
    try:
        with DATABASE_GATE.passage(settings.MAILMON_INGEST_RETRY_AFTER):
            principal = authenticate_agent(request.META)
            wait = agent_rate_check(key_id=principal.key.pk, rate=principal.key.rate_limit)
            if wait is not None:  # before reading the body: refusing costs nothing
                return _error(
                    429,
                    "Request rate limit of this API key exceeded; send this batch again later.",
                    **{"Retry-After": str(wait)},
                )
            body = _read_body(request)
            return _ingest(body, request.content_type or "", principal)
    except AgentAuthError as exc:
        headers = {"WWW-Authenticate": "Api-Key"} if exc.status == 401 else {}
        return _error(exc.status, exc.detail, **headers)
    except _BodyError as exc:
        return _error(exc.status, exc.detail)
    except InboxFull:
        return _error(429, "Ingest backlog is full; send this batch again later.", **_retry_after())
    except DatabaseUnavailable:  # a recent request found it unreachable: this one does not wait 5 s
        return _database_unavailable()
    except DatabaseError:
        log.warning("ingest: database unavailable", exc_info=True)
        return _database_unavailable()


def _ingest(body: bytes, content_type: str, principal) -> JsonResponse:
    try:
        parsed = parse_batch(body, content_type)
    except WireError as exc:
        return _error(400, exc.message)
    scope = principal.key.node.hostname if principal.key.node_id else None
    batch = ingest_prepare(events=parsed.events, scope_node=scope, escape=b"\\" in body)
    rejected = parsed.rejected
    if batch.rejected:
        rejected = _merge_rejected(parsed, batch.rejected)
    try:  # unknown nodes count against the key's node limits before anything is accepted
        nodes_ensure(hostnames=batch.nodes, key=principal.key)
    except NodeRegistrationRefused as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        return _error(exc.status, str(exc), **headers)
    batch_id = ingest_batch_create(batch=batch) if batch.count else None
    _count(batch.count, len(rejected))
    answer: dict[str, Any] = {"accepted": batch.count, "rejected": rejected, "batch": batch_id}
    if not batch.count and rejected:
        # Nothing usable: a 4xx so that the shipper drops the body instead of retrying.
        return JsonResponse({"detail": "No valid events in the body.", **answer}, status=400)
    return JsonResponse(answer, status=202)


_GZIP_MAGIC = b"\x1f\x8b"


class _BodyError(Exception):
    def __init__(self, status: int, detail: str):
        self.status, self.detail = status, detail


def _read_body(request: HttpRequest) -> bytes:
    limit = settings.MAILMON_INGEST_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _BodyError(400, "Invalid Content-Length header.") from None
    if length > limit:
        raise _BodyError(413, f"Body too large: {length} bytes (at most {limit}); send smaller batches.")
    # Never more than limit + 1 bytes, whatever the framing: the limit holds while reading.
    body = _body_stream(request, length).read(limit + 1)
    if len(body) > limit:
        raise _BodyError(413, f"Body too large (at most {limit} bytes); send smaller batches.")
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise _BodyError(415, f"Unsupported Content-Encoding {encoding!r}; use gzip or none.")
    return _gunzip(body, limit)


def _body_stream(request: HttpRequest, length: int):
    # request.read(), not request.body: the latter applies DATA_UPLOAD_MAX_MEMORY_SIZE
    # (2.5 MB), smaller than a legitimate 10,000-event batch.  Under WSGI, Django reads
    # at most Content-Length bytes, i.e. nothing of a chunked body (no Content-Length):
    # the server's own stream (gunicorn de-chunks it) is read instead.  Under ASGI the
    # request already holds the whole body, whatever its framing.
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked and not length and "wsgi.input" in request.META:
        return request.META["wsgi.input"]
    return request


def _gunzip(body: bytes, limit: int) -> bytes:
    """Every member of a gzip body (shippers that append write several); 400 for anything else."""
    parts: list[bytes] = []
    size, offset = 0, 0
    while offset < len(body):
        if body[offset : offset + 2] != _GZIP_MAGIC:
            what = "is not gzip data" if offset == 0 else f"has trailing data after the gzip data at byte {offset}"
            raise _BodyError(400, f"Body {what}.")
        inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        try:
            data = inflater.decompress(body[offset:], limit + 1 - size)
        except zlib.error as exc:
            raise _BodyError(400, f"Body is not valid gzip data (member at byte {offset}: {exc}).") from None
        size += len(data)
        if size > limit or inflater.unconsumed_tail:
            raise _BodyError(413, f"Decompressed body too large (at most {limit} bytes); send smaller batches.")
        if not inflater.eof:
            raise _BodyError(400, f"Body is truncated gzip data (member at byte {offset} does not end).")
        parts.append(data)
        offset = len(body) - len(inflater.unused_data)
    return b"".join(parts) if len(parts) != 1 else parts[0]


def _merge_rejected(parsed: ParsedBatch, extra: list[tuple[int, dict]]) -> list[dict]:
    """Add the storage-rule rejections (positions among accepted events) with their body indices."""
    merged = parsed.rejected + [{"index": parsed.indices[pos], "errors": errors} for pos, errors in extra]
    return sorted(merged, key=lambda item: item["index"])


def _count(accepted: int, rejected: int) -> None:
    # /metrics must never cost the shipper its 202: the batch is already stored.
    with contextlib.suppress(Exception):
        if accepted:
            counter_inc(ACCEPTED_COUNTER, accepted)
        if rejected:
            counter_inc(REJECTED_COUNTER, rejected)


def _database_unavailable() -> JsonResponse:
    return _error(503, "Database unavailable; send this batch again later.", **_retry_after())


def _retry_after() -> dict[str, str]:
    return {"Retry-After": str(settings.MAILMON_INGEST_RETRY_AFTER)}


def _error(status: int, detail: str, **headers: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status, headers=headers)


# ------------------------------------------------------------------ OpenAPI description

_EVENT_EXAMPLE = {
    "event_id": "mta-1:1764064800:a1b2c3",
    "time": "2026-11-25T10:00:00.123Z",
    "type": "delivered",
    "node": "mta-1",
    "sending_ip": "198.51.100.7",
    "message_id": "<20261125100000.a1b2c3@example.com>",
    "from": "a@example.com",
    "to": "b@gmail.com",
    "mx": "gmail-smtp-in.l.google.com",
    "status_code": 250,
    "enhanced_status": "2.0.0",
    "response": "250 2.0.0 OK  1764064800 a1b2c3 - gsmtp",
    "delay_ms": 1234,
    "size": 2345,
    "account": "user1",
}


class EventIngestApi(APIView):
    """The route and schema of the endpoint; :func:`event_ingest` does the work (no DRF per event)."""

    # event_ingest authenticates the agent key itself (one lookup, and a database outage
    # answers 503 rather than DRF's 500); the schema names the scheme through ``auth``.
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []  # the body is read raw, never through request.data
    metadata_class = None  # OPTIONS: 405 like any other method but POST, not a description

    class EventSerializer(serializers.Serializer):
        """Documentation of apps.events.wire.WireEvent (tests/events/test_ingest_schema.py keeps them equal)."""

        event_id = serializers.CharField(max_length=128, help_text="Idempotency key (with `time`).")
        time = serializers.DateTimeField(help_text="RFC 3339 with offset; not older than the retention.")
        type = serializers.ChoiceField(choices=EventType.choices)
        node = serializers.CharField(max_length=255, help_text="Hostname; unknown nodes are registered.")
        to = serializers.EmailField(max_length=320)
        sending_ip = serializers.IPAddressField(
            max_length=45, required=False, allow_null=True, help_text="IPv4 or IPv6 address (stored canonical)."
        )
        message_id = serializers.CharField(max_length=998, required=False, allow_null=True, allow_blank=True)
        from_ = serializers.CharField(max_length=320, required=False, allow_null=True, allow_blank=True)
        mx = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
        status_code = serializers.IntegerField(min_value=100, max_value=599, required=False, allow_null=True)
        enhanced_status = serializers.RegexField(r"^[245]\.\d{1,3}\.\d{1,3}$", required=False, allow_null=True)
        response = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, help_text="Kept up to 2,000 characters."
        )
        delay_ms = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, allow_null=True)
        size = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, allow_null=True)
        account = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = fields.pop("from_")  # "from" is a Python keyword
            return fields

    class OutputSerializer(serializers.Serializer):
        accepted = serializers.IntegerField(help_text="Events stored durably (the inbox is committed).")
        rejected = serializers.ListField(
            child=inline_serializer(
                "IngestRejectedEvent",
                {"index": serializers.IntegerField(), "errors": serializers.DictField()},
            ),
            help_text="Invalid events: 0-based index in the body (line number for NDJSON) and field errors.",
        )
        batch = serializers.IntegerField(allow_null=True, help_text="Inbox batch id.")

    @extend_schema(
        operation_id="events_ingest",
        summary="Ingest delivery events (agents / MTAs)",
        description=(
            "One event object, a JSON array of up to 10,000 events, or NDJSON "
            "(`Content-Type: application/x-ndjson`), optionally `Content-Encoding: gzip`. "
            "202 means stored durably; 4xx means never send this body again; 429/503 (with "
            "`Retry-After`) and other 5xx mean send it again. See docs/events.md."
        ),
        request={
            "application/json": EventSerializer(many=True),
            "application/x-ndjson": OpenApiTypes.STR,
        },
        responses={
            202: OutputSerializer,
            400: OpenApiResponse(
                description="Malformed body (JSON, UTF-8, nesting, gzip: the detail names the problem and its "
                "position), or no valid event; nothing stored."
            ),
            401: OpenApiResponse(description="Missing, unknown or revoked API key."),
            403: OpenApiResponse(description="Key used from outside its CIDR allowlist."),
            413: OpenApiResponse(description="Body larger than MAILMON_INGEST_MAX_BODY_BYTES."),
            415: OpenApiResponse(description="Unsupported Content-Encoding."),
            429: OpenApiResponse(
                description="Ingest backlog full, or the key's request rate limit reached; "
                "retry after Retry-After seconds."
            ),
            503: OpenApiResponse(description="Database unavailable; retry after Retry-After seconds."),
        },
        # One element: drf-spectacular wraps examples of a many=True body in the list itself.
        examples=[OpenApiExample("One delivered event", value=_EVENT_EXAMPLE, request_only=True)],
        tags=["events"],
        auth=[{AgentKeyScheme.name: []}],
    )
    def post(self, request, *args, **kwargs):
        return event_ingest(request._request)
