"""Parser/validator for the delivery-event ingest wire format.

This is the hot path of ``POST /api/v1/events/ingest`` (target: >= 50,000 events/s on
2 cores), so it is pure Python + msgspec, with no Django and no database access.

Design (measured with bench/wire.py; ~2.7 us per valid event, where DRF serializers
cost ~34 us):

* msgspec decodes a whole array into :class:`WireEvent` structs in one C call, checking
  the rules it checks cheaply: types, lengths, ranges, enum, timezone presence.
* The remaining rules (address and enhanced-status syntax, IP syntax, time not too far
  in the future, no NUL characters) run in Python in :func:`_to_record` while building
  the storage dict.  Each is a cheap test: repeated values (sending IPs, status codes)
  are memoised and the NUL scan only runs if the raw body contains an escaped NUL.
* Only when that fast path fails is the batch re-read element by element, and only the
  invalid elements are examined field by field, with per-field decoders built from the
  struct's own annotations, to report every error keyed by wire field name.
* Formats: a JSON array, a single JSON object, or NDJSON (by content type, or a body
  that does not start with "[" and is not a single JSON document).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "EVENT_TYPES",
    "MAX_EVENTS",
    "NDJSON_CONTENT_TYPES",
    "ParsedBatch",
    "WireError",
    "WireEvent",
    "parse_batch",
]

MAX_EVENTS: Final = 10_000
RESPONSE_MAX_CHARS: Final = 2000
FUTURE_TOLERANCE: Final = timedelta(days=1)
# THE list of event types: choices.EventType, the storage counters and the pages derive
# from it (this module stays Django-free, so it is the one both sides can import).
EVENT_TYPES: Final = ("queued", "delivered", "bounced", "deferred", "rejected", "complained")
NDJSON_CONTENT_TYPES: Final = frozenset({"application/x-ndjson", "application/ndjson"})

# Storage columns are at most bigint; a larger JSON integer would make the INSERT fail.
_INT64_MAX: Final = 2**63 - 1

# Only rules msgspec checks cheaply (types, lengths, ranges, enum) are annotations.
# Address and enhanced-status syntax are checked in Python (see _address_domain and
# _is_enhanced_status): msgspec patterns go through `re` per value and cost ~0.4 us
# each, more than the whole struct decode of the other fields.
EventId = Annotated[str, Meta(min_length=1, max_length=128)]
AwareTime = Annotated[datetime, Meta(tz=True)]
EventTypeName = Literal[EVENT_TYPES]  # type: ignore[valid-type]  # Literal[("a", "b")] == Literal["a", "b"]
NodeName = Annotated[str, Meta(min_length=1, max_length=255)]
Address = Annotated[str, Meta(max_length=320)]
# 45 = longest textual IPv6 (IPv4-mapped); the syntax check happens in Python.
IpText = Annotated[str, Meta(min_length=1, max_length=45)]
MessageId = Annotated[str, Meta(max_length=998)]
Text255 = Annotated[str, Meta(max_length=255)]
StatusCode = Annotated[int, Meta(ge=100, le=599)]
Count = Annotated[int, Meta(ge=0, le=_INT64_MAX)]


class WireEvent(msgspec.Struct, rename={"sender": "from", "recipient": "to"}, gc=False):
    """One event as sent on the wire; attribute names are the storage names.

    ``gc=False`` is safe because every field is a scalar, and it keeps 10,000 structs
    per request from triggering cyclic-GC passes.
    """

    event_id: EventId
    time: AwareTime
    type: EventTypeName
    node: NodeName
    recipient: Address
    sending_ip: IpText | None = None
    message_id: MessageId | None = None
    sender: Address | None = None
    mx: Text255 | None = None
    status_code: StatusCode | None = None
    enhanced_status: str | None = None
    response: str | None = None
    delay_ms: Count | None = None
    size: Count | None = None
    account: Text255 | None = None


class WireError(Exception):
    """The body as a whole is unusable; the API answers 400 and stores nothing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class ParsedBatch:
    """Valid events (storage form) and rejected ones, both with their index in the body.

    ``indices[i]`` is the body index of ``events[i]``: its position in the array, or its
    physical line number for NDJSON, the same numbering as ``rejected[...]["index"]``.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


_EVENT_DECODER: Final = msgspec.json.Decoder(WireEvent)
_EVENT_LIST_DECODER: Final = msgspec.json.Decoder(list[WireEvent])
_RAW_LIST_DECODER: Final = msgspec.json.Decoder(list[msgspec.Raw])
_ANY_DECODER: Final = msgspec.json.Decoder()

# JSON can only carry NUL as this escape (raw control characters are malformed), so
# its absence from the body proves no string contains NUL, which PostgreSQL rejects.
_ESCAPED_NUL: Final = b"\\u0000"
_LEADING_WS: Final = re.compile(rb"[ \t\r\n]*")

_ENHANCED_STATUS: Final = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}")
# msgspec renders a UTC datetime as "YYYY-MM-DDTHH:MM:SS[.ffffff]Z"; keyed by length,
# the suffix that turns it into isoformat(timespec="microseconds") output.  This is ~5x
# faster than datetime.isoformat, which was the single largest per-event cost.
_ISO_SUFFIX: Final = {20: ".000000+00:00", 27: "+00:00"}
_NULL_SENDERS: Final = frozenset({"", "<>"})

_MSG_REQUIRED: Final = "This field is required."
_MSG_NOT_OBJECT: Final = "Expected a JSON object."
_MSG_INVALID_JSON: Final = "invalid JSON"
_MSG_INVALID_EVENT: Final = "Invalid event."
# Nesting depth named in the "too deep" message: msgspec gives up at Python's recursion
# limit (~1,000 levels less the caller's stack), so a body it refused is at least this deep.
NESTING_REPORTED: Final = 500
# Strings (skipped whole, escapes included) and brackets: enough to track nesting depth.
_NESTING_TOKENS: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_MSG_FUTURE: Final = "Time is more than 1 day in the future."
_MSG_TIME_RANGE: Final = "Time is out of range."
_MSG_IP: Final = "Enter a valid IPv4 or IPv6 address."
_MSG_NUL: Final = "Must not contain NUL characters."
_MSG_TO: Final = "Enter a valid email address (exactly one '@', non-empty local part and domain)."
_MSG_FROM: Final = "Enter a valid email address, or an empty string for the null sender."
_MSG_ENHANCED: Final = "Enter an enhanced status code such as 2.0.0 or 5.7.26."
_MSG_TYPE: Final = "Must be one of: " + ", ".join(EVENT_TYPES) + "."

_WIRE_FIELDS: Final = msgspec.structs.fields(WireEvent)
# Per-field decoders built from the struct's own annotations, so the error report of a
# rejected element applies exactly the rules the struct decoder applied.
_FIELD_DECODERS: Final = tuple(
    (info.encode_name, info.required, msgspec.json.Decoder(info.type)) for info in _WIRE_FIELDS
)
_RAW_OBJECT_DECODER: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
# Every string field but `response`, which is free text from remote servers and is
# cleaned in _to_record rather than rejected.
_NUL_CHECKED: Final = (
    "event_id",
    "node",
    "recipient",
    "sender",
    "sending_ip",
    "message_id",
    "mx",
    "enhanced_status",
    "account",
)

# Small memo tables for values that repeat across a fleet's events (a handful of sending
# IPs and enhanced status codes), so their checks cost one lookup after warm-up.  The
# cap only guards against a client sending endless distinct values.
_MEMO_MAX: Final = 4096
_IP_CACHE: dict[str, str] = {}  # valid IP text -> canonical text
_ENHANCED_OK: set[str] = set()


@dataclass(slots=True)
class _Context:
    cutoff: datetime
    # True when the body may contain NUL characters (see _ESCAPED_NUL).
    nul_possible: bool


# --------------------------------------------------------------------------- public API


def parse_batch(
    body: bytes,
    content_type: str = "application/json",
    max_events: int = MAX_EVENTS,
    *,
    now: datetime | None = None,
) -> ParsedBatch:
    """Parse an ingest body: one JSON object, a JSON array of objects, or NDJSON.

    Returns the valid events normalised to storage names and the rejected ones with
    their 0-based position in the submitted batch (the physical line number for NDJSON)
    and errors keyed by wire field name.  Raises :class:`WireError` when the body as a
    whole is unusable.  ``now`` (aware) overrides the clock for the future-time rule.
    """
    body = bytes(body)
    start = _LEADING_WS.match(body).end()
    if start == len(body):
        raise WireError("Empty body.")
    ctx = _Context(
        cutoff=(now or datetime.now(UTC)) + FUTURE_TOLERANCE,
        nul_possible=_ESCAPED_NUL in body,
    )
    if _media_type(content_type) in NDJSON_CONTENT_TYPES:
        return _parse_ndjson(body, max_events, ctx)
    if body[start : start + 1] == b"[":
        return _parse_array(body, max_events, ctx)
    return _parse_single_or_ndjson(body, max_events, ctx)


# ------------------------------------------------------------------------ body shapes


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _parse_array(body: bytes, max_events: int, ctx: _Context) -> ParsedBatch:
    try:
        events = _EVENT_LIST_DECODER.decode(body)
    except (msgspec.ValidationError, UnicodeDecodeError):
        # Some element is invalid (or the JSON is malformed further on): find out which.
        return _parse_array_elementwise(body, max_events, ctx)
    except msgspec.DecodeError as exc:
        raise WireError(f"Malformed JSON body ({exc}).") from None
    except RecursionError:
        raise WireError(_nesting_message(body, "of the body")) from None
    _check_count(len(events), max_events)
    batch = ParsedBatch()
    for index, event in enumerate(events):
        _accept(event, index, ctx, batch)
    return batch


def _parse_array_elementwise(body: bytes, max_events: int, ctx: _Context) -> ParsedBatch:
    try:
        raws = _RAW_LIST_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise WireError(f"Malformed JSON body ({exc}).") from None
    except RecursionError:
        raise WireError(_nesting_message(body, "of the body")) from None
    _check_count(len(raws), max_events)
    batch = ParsedBatch()
    for index, raw in enumerate(raws):
        _parse_element(raw, index, ctx, batch)
    return batch


def _parse_single_or_ndjson(body: bytes, max_events: int, ctx: _Context) -> ParsedBatch:
    # A pretty-printed object spans several lines too, so "more than one line" alone
    # cannot tell it from NDJSON: a body that is one JSON document is a single event.
    try:
        value = _ANY_DECODER.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        if _is_multiline(body):
            return _parse_ndjson(body, max_events, ctx)
        if isinstance(exc, RecursionError):
            raise WireError(_nesting_message(body, "of the body")) from None
        if isinstance(exc, UnicodeDecodeError):
            value = {}  # well-formed or not, the element check below names the bad bytes
        else:
            raise WireError(f"Malformed JSON body ({exc}).") from None
    if not isinstance(value, dict):
        raise WireError("Expected a JSON object, a JSON array of objects, or NDJSON.")
    batch = ParsedBatch()
    _parse_element(body, 0, ctx, batch)
    return batch


def _parse_ndjson(body: bytes, max_events: int, ctx: _Context) -> ParsedBatch:
    lines = body.split(b"\n")
    # Every line is decoded separately, rather than with Decoder.decode_lines, because
    # the latter also accepts values spanning or sharing lines, which would shift the
    # reported indices.  The per-call overhead is small next to decoding itself.
    numbered = [(index, line) for index, line in enumerate(lines) if line and not line.isspace()]
    if not numbered:
        raise WireError("Empty body.")
    _check_count(len(numbered), max_events)
    batch = ParsedBatch()
    for index, line in numbered:
        _parse_element(line, index, ctx, batch)
    return batch


def _is_multiline(body: bytes) -> bool:
    return b"\n" in body.strip()


def _check_count(count: int, max_events: int) -> None:
    if count > max_events:
        raise WireError(f"Too many events: {count} (at most {max_events} per request).")


# --------------------------------------------------------------------------- elements


def _parse_element(raw: bytes | msgspec.Raw, index: int, ctx: _Context, batch: ParsedBatch) -> None:
    try:
        event = _EVENT_DECODER.decode(raw)
    except (msgspec.ValidationError, UnicodeDecodeError) as exc:
        batch.rejected.append({"index": index, "errors": _explain(raw, exc, ctx)})
        return
    except msgspec.DecodeError:
        # Only reachable for NDJSON lines: array elements were already well-formed.
        batch.rejected.append({"index": index, "errors": {"non_field_errors": [_MSG_INVALID_JSON]}})
        return
    except RecursionError:  # an NDJSON line (a deep array element fails the whole body)
        message = _nesting_message(bytes(raw), "of the line")
        batch.rejected.append({"index": index, "errors": {"non_field_errors": [message]}})
        return
    _accept(event, index, ctx, batch)


def _accept(event: WireEvent, index: int, ctx: _Context, batch: ParsedBatch) -> None:
    record = _to_record(event, ctx)
    if record is not None:
        batch.events.append(record)
        batch.indices.append(index)
        return
    # Both functions use the same predicates, so this is never empty; the fallback only
    # makes sure a disagreement can never turn into a silent accept or a lost event.
    errors = _semantic_errors(event, ctx) or {"non_field_errors": [_MSG_INVALID_EVENT]}
    batch.rejected.append({"index": index, "errors": errors})


def _to_record(event: WireEvent, ctx: _Context) -> dict[str, Any] | None:
    """Storage form of a type-checked event, or None if a Python-side rule fails.

    This is the per-event hot path: each rule is a cheap test, and the detailed error
    messages are left to _semantic_errors, which only runs for rejected events.
    """
    moment = event.time
    if moment > ctx.cutoff:
        return None
    if moment.tzinfo is not UTC:
        moment = _to_utc(moment)
        if moment is None:
            return None
    recipient = event.recipient
    recipient_domain = _address_domain(recipient)
    if recipient_domain is None:
        return None
    sender = event.sender
    sender_domain = None
    if sender in _NULL_SENDERS:
        sender = ""
    elif sender is not None:
        sender_domain = _address_domain(sender)
        if sender_domain is None:
            return None
    ip = event.sending_ip
    if ip is not None:
        ip = _normalize_ip(ip)
        if ip is None:
            return None
    enhanced = event.enhanced_status
    if enhanced is not None and not _is_enhanced_status(enhanced):
        return None
    if ctx.nul_possible and _has_nul(event):
        return None
    return {
        "event_id": event.event_id,
        "time": _iso_utc(moment),
        "type": event.type,
        "node": event.node,
        "sending_ip": ip,
        "message_id": event.message_id,
        "sender": sender,
        "recipient": recipient,
        "sender_domain": sender_domain,
        "recipient_domain": recipient_domain,
        "mx": event.mx,
        "status_code": event.status_code,
        "enhanced_status": enhanced,
        "response": _clean_response(event.response),
        "delay_ms": event.delay_ms,
        "size": event.size,
        "account": event.account,
    }


def _semantic_errors(event: WireEvent, ctx: _Context) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for info in _WIRE_FIELDS:
        message = _value_error(info.encode_name, getattr(event, info.name), ctx)
        if message is not None:
            errors[info.encode_name] = [message]
    return errors


# ------------------------------------------------------------------------- predicates


def _address_domain(address: str) -> str | None:
    """Lowercased domain of a valid address, or None when invalid.

    Valid: exactly one "@" with a non-empty local part and domain.  The domain feeds
    per-domain statistics, so it must also be free of whitespace and control characters
    (isprintable() is False for those except the plain space).
    """
    local, _, domain = address.rpartition("@")
    if not local or not domain or "@" in local or " " in domain or not domain.isprintable():
        return None
    return domain.lower()


def _normalize_ip(text: str) -> str | None:
    """Canonical text of a valid IP address, or None when invalid."""
    cached = _IP_CACHE.get(text)
    if cached is not None:
        return cached
    # Zone ids ("fe80::1%eth0") pass ipaddress but not PostgreSQL's inet type.
    if "%" in text:
        return None
    try:
        canonical = str(ipaddress.ip_address(text))
    except ValueError:
        return None
    if len(_IP_CACHE) >= _MEMO_MAX:
        _IP_CACHE.clear()
    _IP_CACHE[text] = canonical
    return canonical


def _is_enhanced_status(text: str) -> bool:
    if text in _ENHANCED_OK:
        return True
    # fullmatch, not "^...$": "$" would also accept a trailing newline.
    if _ENHANCED_STATUS.fullmatch(text) is None:
        return False
    if len(_ENHANCED_OK) >= _MEMO_MAX:
        _ENHANCED_OK.clear()
    _ENHANCED_OK.add(text)
    return True


def _to_utc(moment: datetime) -> datetime | None:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before datetime.min
        return None


def _iso_utc(moment: datetime) -> str:
    text: str = msgspec.to_builtins(moment)
    suffix = _ISO_SUFFIX.get(len(text))
    if suffix is None:  # not expected; stay correct if msgspec's rendering ever changes
        return moment.isoformat(timespec="microseconds")
    return text[:-1] + suffix


def _has_nul(event: WireEvent) -> bool:
    for name in _NUL_CHECKED:
        value = getattr(event, name)
        if value is not None and "\x00" in value:
            return True
    return False


def _clean_response(response: str | None) -> str | None:
    if response is None:
        return None
    if "\x00" in response:
        response = response.replace("\x00", "")
    return response[:RESPONSE_MAX_CHARS]


# ---------------------------------------------------------------- error explanations


def _explain(raw: bytes | msgspec.Raw, exc: Exception, ctx: _Context) -> dict[str, list[str]]:
    """All errors of an element msgspec refused, keyed by wire field name."""
    try:
        obj = _RAW_OBJECT_DECODER.decode(raw)
    except msgspec.ValidationError:
        return {"non_field_errors": [_MSG_NOT_OBJECT]}
    except msgspec.DecodeError:
        # Typed decoding stopped at the first bad value, before reaching malformed JSON.
        return {"non_field_errors": [_MSG_INVALID_JSON]}
    except UnicodeDecodeError:  # in a field name
        return {"non_field_errors": [_utf8_message(bytes(raw), "of the event")]}
    # Same fallback reasoning as in _accept.
    return _field_errors(obj, ctx) or {"non_field_errors": [str(exc)]}


def _field_errors(obj: dict[str, msgspec.Raw], ctx: _Context) -> dict[str, list[str]]:
    """Check each field on its own, decoding it exactly as the struct decoder would."""
    errors: dict[str, list[str]] = {}
    for name, required, decoder in _FIELD_DECODERS:
        raw = obj.get(name)
        if raw is None:
            if required:
                errors[name] = [_MSG_REQUIRED]
            continue
        try:
            value = decoder.decode(raw)
        except msgspec.ValidationError as exc:
            errors[name] = [_type_message(str(exc))]
            continue
        except UnicodeDecodeError:  # only strings can hold the bad bytes: count from after the quote
            errors[name] = [_utf8_message(bytes(raw)[1:], "of the value")]
            continue
        message = _value_error(name, value, ctx)
        if message is not None:
            errors[name] = [message]
    return errors


def _value_error(name: str, value: Any, ctx: _Context) -> str | None:
    """Message for the first Python-side rule (as in _to_record) a typed value breaks."""
    if value is None:
        return None
    if isinstance(value, str) and name != "response" and "\x00" in value:
        return _MSG_NUL
    if name == "time":
        if value > ctx.cutoff:
            return _MSG_FUTURE
        if _to_utc(value) is None:
            return _MSG_TIME_RANGE
    elif name == "to":
        if _address_domain(value) is None:
            return _MSG_TO
    elif name == "from":
        if value not in _NULL_SENDERS and _address_domain(value) is None:
            return _MSG_FROM
    elif name == "sending_ip":
        if _normalize_ip(value) is None:
            return _MSG_IP
    elif name == "enhanced_status" and not _is_enhanced_status(value):
        return _MSG_ENHANCED
    return None


def _type_message(message: str) -> str:
    # msgspec appends the JSON path ("... - at `$`"); the error key already names it.
    message = message.partition(" - at `")[0]
    if message.startswith("Invalid enum value"):
        return _MSG_TYPE
    return message


def _utf8_message(data: bytes, where: str) -> str:
    """Names the first byte that is not UTF-8 (e.g. Latin-1 "M\\xfcller") and its position."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"Invalid UTF-8: byte 0x{data[exc.start]:02x} at position {exc.start} {where}; send UTF-8."
    return "Invalid UTF-8; send UTF-8."


def _nesting_message(data: bytes, where: str) -> str:
    position = _deep_position(data, NESTING_REPORTED)
    if position is None:  # not expected: msgspec only gives up far deeper
        return "JSON nested too deeply."
    return f"JSON nested too deeply: more than {NESTING_REPORTED} levels at position {position} {where}."


def _deep_position(data: bytes, limit: int) -> int | None:
    """Byte offset of the bracket that opens nesting level ``limit + 1``, or None."""
    depth = 0
    for match in _NESTING_TOKENS.finditer(data):
        char = data[match.start()]
        if char in b"[{":
            depth += 1
            if depth > limit:
                return match.start()
        elif char in b"]}":
            depth -= 1
    return None
