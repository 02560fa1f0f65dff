"""Tests of the ingest wire parser (pure: no Django, no database)."""

from __future__ import annotations

import ipaddress
import itertools
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from apps.events import wire
from apps.events.wire import MAX_EVENTS, ParsedBatch, WireError, parse_batch
from tests.events.wire_samples import wire_event

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STORAGE_KEYS = {
    "event_id",
    "time",
    "type",
    "node",
    "sending_ip",
    "message_id",
    "sender",
    "recipient",
    "sender_domain",
    "recipient_domain",
    "mx",
    "status_code",
    "enhanced_status",
    "response",
    "delay_ms",
    "size",
    "account",
}


def minimal_event(n: int = 0, **overrides: Any) -> dict[str, Any]:
    event = {
        "event_id": f"ev-{n}",
        "time": "2026-11-25T10:00:00Z",
        "type": "queued",
        "node": "mta-2",
        "to": "c@example.net",
    }
    event.update(overrides)
    return event


def parse(payload: Any, content_type: str = "application/json", **kwargs: Any) -> ParsedBatch:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_batch(body, content_type, now=NOW, **kwargs)


def ndjson(*events: Any) -> bytes:
    return b"\n".join(json.dumps(event).encode() for event in events) + b"\n"


def parse_one(**overrides: Any) -> ParsedBatch:
    return parse([wire_event(**overrides)])


def errors_of(batch: ParsedBatch) -> dict[int, dict[str, list[str]]]:
    return {item["index"]: item["errors"] for item in batch.rejected}


def assert_rejected_field(field: str, **overrides: Any) -> None:
    batch = parse_one(**overrides)
    assert batch.events == []
    assert list(errors_of(batch)) == [0]
    assert list(errors_of(batch)[0]) == [field], batch.rejected


# ------------------------------------------------------------------------ body shapes


def test_single_object_is_normalized_to_storage_names() -> None:
    batch = parse(wire_event())
    assert batch.rejected == []
    assert batch.events == [
        {
            "event_id": "mta-1:00000000",
            "time": "2026-11-25T10:00:00.123000+00:00",
            "type": "delivered",
            "node": "mta-1",
            "sending_ip": "198.51.100.7",
            "message_id": "<0.abc@mail.example.com>",
            "sender": "a@example.com",
            "recipient": "b@gmail.com",
            "sender_domain": "example.com",
            "recipient_domain": "gmail.com",
            "mx": "gmail-smtp-in.l.google.com",
            "status_code": 250,
            "enhanced_status": "2.0.0",
            "response": "250 2.0.0 OK 1764064800 a1b2c3 - gsmtp",
            "delay_ms": 1234,
            "size": 2345,
            "account": "user1",
        }
    ]


def test_array_keeps_submission_order() -> None:
    batch = parse([wire_event(n) for n in range(5)])
    assert batch.rejected == []
    assert [event["event_id"] for event in batch.events] == [f"mta-1:{n:08d}" for n in range(5)]


def test_empty_array_is_an_empty_batch() -> None:
    assert parse([]) == ParsedBatch(events=[], rejected=[])


@pytest.mark.parametrize(
    "content_type", ["application/x-ndjson", "application/x-ndjson; charset=utf-8", "Application/NDJSON"]
)
def test_ndjson_by_content_type(content_type: str) -> None:
    batch = parse(ndjson(wire_event(0), wire_event(1)), content_type)
    assert batch.rejected == []
    assert [event["event_id"] for event in batch.events] == ["mta-1:00000000", "mta-1:00000001"]


def test_ndjson_single_line_by_content_type() -> None:
    batch = parse(json.dumps(wire_event()).encode(), "application/x-ndjson")
    assert len(batch.events) == 1


def test_ndjson_detected_from_multiline_body() -> None:
    body = ndjson(wire_event(0), wire_event(1), wire_event(2)).replace(b"\n", b"\r\n")
    batch = parse(body, "application/json")
    assert len(batch.events) == 3
    assert batch.rejected == []


def test_pretty_printed_object_is_a_single_event_not_ndjson() -> None:
    body = json.dumps(wire_event(), indent=2).encode()
    batch = parse(body)
    assert len(batch.events) == 1
    assert batch.rejected == []


def test_ndjson_index_is_the_physical_line_and_bad_json_is_rejected_not_fatal() -> None:
    body = b"\n".join(
        [
            json.dumps(wire_event(0)).encode(),
            b"",  # blank lines are skipped but still count as lines
            b'{"event_id": "x", "time": ',  # truncated JSON
            json.dumps(wire_event(3)).encode(),
            b"[1, 2]",
            json.dumps(wire_event(5, to="nobody")).encode(),
            b'{"event_id": "e"} trailing',
            b"   ",
        ]
    )
    batch = parse(body, "application/x-ndjson")
    assert [event["event_id"] for event in batch.events] == ["mta-1:00000000", "mta-1:00000003"]
    assert errors_of(batch) == {
        2: {"non_field_errors": ["invalid JSON"]},
        4: {"non_field_errors": ["Expected a JSON object."]},
        5: {"to": [wire._MSG_TO]},
        6: {"non_field_errors": ["invalid JSON"]},
    }


def test_ndjson_line_with_two_objects_is_invalid_json() -> None:
    body = ndjson(wire_event(0)) + json.dumps(wire_event(1)).encode() + json.dumps(wire_event(2)).encode()
    batch = parse(body, "application/x-ndjson")
    assert [event["event_id"] for event in batch.events] == ["mta-1:00000000"]
    assert errors_of(batch) == {1: {"non_field_errors": ["invalid JSON"]}}


def test_ndjson_line_with_type_error_before_malformed_tail_is_invalid_json() -> None:
    batch = parse(b'{"event_id": 5, "time": nope\n{"a": 1}\n', "application/x-ndjson")
    assert errors_of(batch)[0] == {"non_field_errors": ["invalid JSON"]}


# --------------------------------------------------------------- whole-body failures


@pytest.mark.parametrize("body", [b"", b"   ", b"\n\r\n\t "])
def test_empty_body_is_a_wire_error(body: bytes) -> None:
    with pytest.raises(WireError, match="Empty body"):
        parse_batch(body)
    with pytest.raises(WireError, match="Empty body"):
        parse_batch(body, "application/x-ndjson")


@pytest.mark.parametrize(
    "body",
    [
        b'[{"event_id": "a"},',
        b'[{"event_id": "a"}, {"event_id": }]',
        b"[1, 2,]",
        b'{"event_id": "a"',
        b"{nope}",
        b'[{"to": "\\ud800"}]',  # lone surrogate: could never be stored as UTF-8
    ],
)
def test_malformed_json_is_a_wire_error(body: bytes) -> None:
    with pytest.raises(WireError) as caught:
        parse_batch(body)
    assert "Malformed JSON" in caught.value.message


def test_malformed_json_after_an_invalid_element_is_still_a_wire_error() -> None:
    body = json.dumps([wire_event(0, type="nope")]).encode()[:-1] + b", {"
    with pytest.raises(WireError):
        parse_batch(body)


@pytest.mark.parametrize("body", [b"42", b'"event"', b"null", b"true"])
def test_wrong_top_level_type_is_a_wire_error(body: bytes) -> None:
    with pytest.raises(WireError, match="Expected a JSON object"):
        parse_batch(body)


def test_more_than_max_events_is_a_wire_error() -> None:
    event = json.dumps(minimal_event()).encode()
    at_limit = b"[" + b",".join([event] * MAX_EVENTS) + b"]"
    assert len(parse(at_limit).events) == MAX_EVENTS
    over_limit = b"[" + b",".join([event] * (MAX_EVENTS + 1)) + b"]"
    with pytest.raises(WireError, match="Too many events"):
        parse(over_limit)


def test_max_events_applies_to_invalid_batches_and_ndjson_too() -> None:
    events = [minimal_event(n) for n in range(4)]
    with pytest.raises(WireError, match="Too many events"):
        parse(events, max_events=3)
    with pytest.raises(WireError, match="Too many events"):
        parse([*events[:3], {"bad": True}], max_events=3)
    with pytest.raises(WireError, match="Too many events"):
        parse(ndjson(*events), "application/x-ndjson", max_events=3)
    assert len(parse(ndjson(*events[:3]), "application/x-ndjson", max_events=3).events) == 3


# ------------------------------------------------------------------ mixed batches


def test_mixed_batch_reports_exact_indices_and_wire_field_names() -> None:
    payload = [
        wire_event(0),
        wire_event(1, to="not-an-address"),
        wire_event(2),
        wire_event(3, time="2026-11-25T10:00:00", type="exploded", sending_ip="300.1.2.3"),
        "not an object",
        minimal_event(5),
        {"event_id": "only-id"},
        wire_event(7, **{"from": "x@@y"}),
        wire_event(8, time="2026-11-28T10:00:00Z"),
        None,
    ]
    batch = parse(payload)
    assert [event["event_id"] for event in batch.events] == ["mta-1:00000000", "mta-1:00000002", "ev-5"]
    errors = errors_of(batch)
    assert list(errors) == [1, 3, 4, 6, 7, 8, 9]
    assert errors[1] == {"to": [wire._MSG_TO]}
    assert set(errors[3]) == {"time", "type", "sending_ip"}
    assert errors[3]["time"] == ["Expected `datetime` with a timezone component"]
    assert errors[3]["type"] == [wire._MSG_TYPE]
    assert errors[3]["sending_ip"] == [wire._MSG_IP]
    assert errors[4] == {"non_field_errors": ["Expected a JSON object."]}
    assert errors[6] == {name: ["This field is required."] for name in ("time", "type", "node", "to")}
    assert errors[7] == {"from": [wire._MSG_FROM]}
    assert errors[8] == {"time": ["Time is more than 1 day in the future."]}
    assert errors[9] == {"non_field_errors": ["Expected a JSON object."]}


def test_python_side_rule_in_otherwise_valid_batch_is_rejected_individually() -> None:
    # Every element passes msgspec, so this exercises the whole-array fast path.
    batch = parse([wire_event(0), wire_event(1, sending_ip="10.0.0.999"), wire_event(2)])
    assert [event["event_id"] for event in batch.events] == ["mta-1:00000000", "mta-1:00000002"]
    assert errors_of(batch) == {1: {"sending_ip": [wire._MSG_IP]}}


# ------------------------------------------------------------------------ fields


def test_unknown_fields_are_ignored() -> None:
    batch = parse_one(extra="x", nested={"a": [1, 2]}, queue_id="4Xy1")
    assert batch.rejected == []
    assert set(batch.events[0]) == STORAGE_KEYS


def test_missing_and_null_optionals_become_none() -> None:
    missing = parse(minimal_event()).events[0]
    nulls = parse(
        minimal_event(
            **dict.fromkeys(
                [
                    "sending_ip",
                    "message_id",
                    "from",
                    "mx",
                    "status_code",
                    "enhanced_status",
                    "response",
                    "delay_ms",
                    "size",
                    "account",
                ]
            )
        )
    ).events[0]
    assert missing == nulls
    assert missing == {
        "event_id": "ev-0",
        "time": "2026-11-25T10:00:00.000000+00:00",
        "type": "queued",
        "node": "mta-2",
        "sending_ip": None,
        "message_id": None,
        "sender": None,
        "recipient": "c@example.net",
        "sender_domain": None,
        "recipient_domain": "example.net",
        "mx": None,
        "status_code": None,
        "enhanced_status": None,
        "response": None,
        "delay_ms": None,
        "size": None,
        "account": None,
    }


@pytest.mark.parametrize("field", ["event_id", "time", "type", "node", "to"])
def test_null_required_field_is_rejected(field: str) -> None:
    assert_rejected_field(field, **{field: None})


@pytest.mark.parametrize("event_type", wire.EVENT_TYPES)
def test_all_event_types_accepted(event_type: str) -> None:
    assert parse_one(type=event_type).events[0]["type"] == event_type


@pytest.mark.parametrize("bad", ["exploded", "Delivered", "", 3])
def test_bad_type_rejected(bad: Any) -> None:
    assert_rejected_field("type", type=bad)


def test_event_id_length_limits() -> None:
    assert parse_one(event_id="x" * 128).events[0]["event_id"] == "x" * 128
    assert_rejected_field("event_id", event_id="x" * 129)
    assert_rejected_field("event_id", event_id="")
    assert_rejected_field("event_id", event_id=12)


def test_node_length_limits() -> None:
    assert len(parse_one(node="n" * 255).events) == 1
    assert_rejected_field("node", node="n" * 256)
    assert_rejected_field("node", node="")


def test_recipient_domain_is_lowercased_but_local_part_kept() -> None:
    event = parse_one(to="Some.User@GMail.COM", **{"from": "Bounce@Example.ORG"}).events[0]
    assert event["recipient"] == "Some.User@GMail.COM"
    assert event["recipient_domain"] == "gmail.com"
    assert event["sender"] == "Bounce@Example.ORG"
    assert event["sender_domain"] == "example.org"


@pytest.mark.parametrize("null_sender", ["", "<>"])
def test_null_sender_accepted(null_sender: str) -> None:
    event = parse_one(**{"from": null_sender}).events[0]
    assert event["sender"] == ""
    assert event["sender_domain"] is None


@pytest.mark.parametrize(
    "bad",
    ["", "plain", "@gmail.com", "b@", "a@b@c", "a@@b", "a@gmail .com", "a@gmail.com\n", "a@x\ty", "x" * 321],
)
def test_bad_recipient_rejected(bad: str) -> None:
    assert_rejected_field("to", to=bad)


def test_recipient_length_limit() -> None:
    address = "u" * 300 + "@" + "d" * 19
    assert len(address) == 320
    assert parse_one(to=address).events[0]["recipient_domain"] == "d" * 19


@pytest.mark.parametrize("bad", ["plain", "@x", "a@", "a@b@c", 5])
def test_bad_sender_rejected(bad: Any) -> None:
    assert_rejected_field("from", **{"from": bad})


# -------------------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("wire_time", "stored"),
    [
        ("2026-11-25T10:00:00.123Z", "2026-11-25T10:00:00.123000+00:00"),
        ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000000+00:00"),
        ("2026-11-25T10:00:00.000001Z", "2026-11-25T10:00:00.000001+00:00"),
        ("2026-11-25T10:00:00.123456+00:00", "2026-11-25T10:00:00.123456+00:00"),
        ("2026-11-25T12:30:00.5+02:30", "2026-11-25T10:00:00.500000+00:00"),
        ("2026-11-25T01:00:00-09:00", "2026-11-25T10:00:00.000000+00:00"),
        ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000000+00:00"),
        ("0999-06-01T00:00:00Z", "0999-06-01T00:00:00.000000+00:00"),
    ],
)
def test_time_normalized_to_utc_iso(wire_time: str, stored: str) -> None:
    assert parse_one(time=wire_time).events[0]["time"] == stored


def test_time_format_matches_datetime_isoformat() -> None:
    rng = random.Random(7)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for _ in range(200):
        moment = start + timedelta(microseconds=rng.randrange(6 * 365 * 86_400 * 10**6))
        if rng.random() < 0.3:
            moment = moment.replace(microsecond=0)
        offset = timezone(timedelta(minutes=rng.randrange(-720, 841, 15)))
        stored = parse_one(time=moment.astimezone(offset).isoformat()).events[0]["time"]
        assert stored == moment.isoformat(timespec="microseconds")


@pytest.mark.parametrize("naive", ["2026-11-25T10:00:00", "2026-11-25T10:00:00.123", "2026-11-25 10:00:00"])
def test_naive_time_rejected(naive: str) -> None:
    assert_rejected_field("time", time=naive)


@pytest.mark.parametrize(
    "bad", ["2026-11-25", "yesterday", "2026-13-01T00:00:00Z", "2026-11-25T25:00:00Z", 1764064800, ""]
)
def test_invalid_time_rejected(bad: Any) -> None:
    assert_rejected_field("time", time=bad)


def test_future_time_rejected_beyond_one_day() -> None:
    within = (NOW + timedelta(days=1) - timedelta(seconds=1)).isoformat()
    beyond = (NOW + timedelta(days=1, seconds=1)).isoformat()
    assert len(parse_one(time=within).events) == 1
    assert_rejected_field("time", time=beyond)
    assert errors_of(parse_one(time=beyond))[0]["time"] == ["Time is more than 1 day in the future."]


def test_future_check_compares_instants_not_wall_clock() -> None:
    # 23:00 at +10:00 on the day after NOW+1d is still within the window in UTC.
    local = (NOW + timedelta(hours=23)).astimezone(timezone(timedelta(hours=10)))
    assert len(parse_one(time=local.isoformat()).events) == 1


def test_future_check_uses_the_real_clock_by_default() -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    later = datetime.now(UTC) + timedelta(days=2)
    assert len(parse_batch(json.dumps(wire_event(time=soon.isoformat())).encode()).events) == 1
    assert len(parse_batch(json.dumps(wire_event(time=later.isoformat())).encode()).rejected) == 1


def test_time_that_overflows_when_converted_to_utc_is_rejected() -> None:
    assert_rejected_field("time", time="0001-01-01T00:00:00+01:00")


# --------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("ip", "stored"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        # Rendering of IPv4-mapped addresses changed in Python 3.13; either is canonical.
        ("::ffff:198.51.100.7", str(ipaddress.ip_address("::ffff:198.51.100.7"))),
    ],
)
def test_sending_ip_validated_and_canonicalized(ip: str, stored: str) -> None:
    assert parse_one(sending_ip=ip).events[0]["sending_ip"] == stored


@pytest.mark.parametrize(
    "bad", ["300.1.2.3", "1.2.3", "198.051.100.7", "fe80::1%eth0", "2001:db8::g", "mta-1", "", " 1.2.3.4", 7]
)
def test_bad_sending_ip_rejected(bad: Any) -> None:
    assert_rejected_field("sending_ip", sending_ip=bad)
    # Once more, now that good IPs are memoised: a bad one must never be.
    assert_rejected_field("sending_ip", sending_ip=bad)


# ------------------------------------------------------------------ other optionals


@pytest.mark.parametrize("code", ["2.0.0", "4.7.0", "5.7.26", "5.123.999"])
def test_enhanced_status_accepted(code: str) -> None:
    assert parse_one(enhanced_status=code).events[0]["enhanced_status"] == code


@pytest.mark.parametrize("bad", ["3.0.0", "2.0", "2.0.0.0", "5.7.1234", "5.7.26\n", "5.٧.26", "x", "", 200])
def test_bad_enhanced_status_rejected(bad: Any) -> None:
    assert_rejected_field("enhanced_status", enhanced_status=bad)


@pytest.mark.parametrize(("code", "ok"), [(100, True), (599, True), (99, False), (600, False)])
def test_status_code_range(code: int, ok: bool) -> None:
    assert bool(parse_one(status_code=code).events) is ok


@pytest.mark.parametrize("bad", ["250", 250.0, True])
def test_status_code_must_be_an_integer(bad: Any) -> None:
    assert_rejected_field("status_code", status_code=bad)


@pytest.mark.parametrize("field", ["delay_ms", "size"])
def test_counts_must_be_non_negative_int64(field: str) -> None:
    assert parse_one(**{field: 0}).events[0][field] == 0
    assert parse_one(**{field: 2**63 - 1}).events[0][field] == 2**63 - 1
    assert_rejected_field(field, **{field: -1})
    assert_rejected_field(field, **{field: 2**63})
    assert_rejected_field(field, **{field: 1.5})


@pytest.mark.parametrize(("field", "limit"), [("message_id", 998), ("mx", 255), ("account", 255)])
def test_optional_string_length_limits(field: str, limit: int) -> None:
    assert parse_one(**{field: "m" * limit}).events[0][field] == "m" * limit
    assert_rejected_field(field, **{field: "m" * (limit + 1)})


def test_response_truncated_not_rejected() -> None:
    event = parse_one(response="5" * 5000).events[0]
    assert event["response"] == "5" * 2000


def test_nul_rejected_in_identifiers_but_stripped_from_response() -> None:
    assert_rejected_field("event_id", event_id="a\x00b")
    assert_rejected_field("to", to="b\x00@gmail.com")
    event = parse_one(response="250 OK\x00 queued").events[0]
    assert event["response"] == "250 OK queued"


def test_nul_in_one_element_of_a_mixed_batch() -> None:
    batch = parse([wire_event(0), wire_event(1, node="mta\x00"), wire_event(2, type="bad", mx="m\x00")])
    assert errors_of(batch) == {
        1: {"node": [wire._MSG_NUL]},
        2: {"type": [wire._MSG_TYPE], "mx": [wire._MSG_NUL]},
    }


def test_input_may_be_bytearray_or_memoryview() -> None:
    body = json.dumps([wire_event()]).encode()
    assert parse_batch(bytearray(body), now=NOW) == parse_batch(memoryview(body), now=NOW)


# ------------------------------------------------------------------ consistency

_MUTATIONS: dict[str, list[Any]] = {
    "event_id": [None, "", "x" * 129, 5, "a\x00"],
    "time": [None, "2026-11-25T10:00:00", "2026-12-01T00:00:00Z", "0001-01-01T00:00:00+01:00", 5, "x"],
    "type": [None, "nope", 1],
    "node": [None, "", "n" * 256],
    "to": [None, "", "a", "a@", "@b", "a@b@c", "a@b c", 5],
    "from": [None, "", "<>", "a", "a@b@c", 5],
    "sending_ip": [None, "1.2.3", "::1", "fe80::1%1", ""],
    "status_code": [None, 99, 600, "250", True],
    "enhanced_status": [None, "2.0", "9.9.9", "2.0.0\n"],
    "delay_ms": [None, -1, 2**64, 1.5],
    "response": [None, "r" * 3000, 5],
}


def test_fast_path_and_error_report_agree() -> None:
    """The fast path (_to_record) and the error report (_field_errors) each implement
    the Python-side rules; they must agree on validity for every element."""
    ctx = wire._Context(cutoff=NOW + wire.FUTURE_TOLERANCE, nul_possible=True)
    rng = random.Random(11)
    cases = [wire_event(**{field: value}) for field, values in _MUTATIONS.items() for value in values]
    for _ in range(300):
        fields = rng.sample(sorted(_MUTATIONS), 2)
        cases.append(wire_event(**{field: rng.choice(_MUTATIONS[field]) for field in fields}))
    for case in itertools.chain(cases, [minimal_event()]):
        raw = msgspec.json.encode(case)
        try:
            fast_ok = wire._to_record(wire._EVENT_DECODER.decode(raw), ctx) is not None
        except msgspec.ValidationError:
            fast_ok = False
        report = wire._field_errors(wire._RAW_OBJECT_DECODER.decode(raw), ctx)
        assert fast_ok is (not report), (case, report)
        # And the public result agrees whichever code path a batch takes.
        alone = parse([case])
        in_bad_batch = parse([case, {"bad": 1}])
        assert alone.events == in_bad_batch.events
        assert alone.rejected == in_bad_batch.rejected[:-1]


# ------------------------------------------------------------- indices, bytes, nesting


def test_each_accepted_event_keeps_its_body_index():
    array = parse([minimal_event(0), minimal_event(1, to="bad"), minimal_event(2)])
    assert array.indices == [0, 2]
    assert [item["index"] for item in array.rejected] == [1]
    lines = b"\n" + ndjson(minimal_event(0)) + b"\n  \n" + ndjson(minimal_event(1), {"x": 1}, minimal_event(3))
    parsed = parse(lines, "application/x-ndjson")
    assert parsed.indices == [1, 4, 6]
    assert [item["index"] for item in parsed.rejected] == [5]
    assert [event["event_id"] for event in parsed.events] == ["ev-0", "ev-1", "ev-3"]


def test_latin_1_bytes_in_a_string_reject_only_that_event_naming_field_and_position():
    body = json.dumps([minimal_event(0), minimal_event(1, response="550 MARK")]).encode()
    parsed = parse(body.replace(b"MARK", b"M\xfcller"))
    assert [event["event_id"] for event in parsed.events] == ["ev-0"]
    assert parsed.rejected == [
        {"index": 1, "errors": {"response": ["Invalid UTF-8: byte 0xfc at position 5 of the value; send UTF-8."]}}
    ]


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_latin_1_bytes_in_a_field_name_are_named_with_their_position(content_type):
    body = json.dumps(minimal_event(0, extra=1)).encode().replace(b'"extra"', b'"to\xe9"').replace(b'"to"', b'"ta"')
    (rejected,) = parse(body, content_type).rejected
    assert rejected["index"] == 0
    assert rejected["errors"]["non_field_errors"][0].startswith("Invalid UTF-8: byte 0xe9 at position ")


@pytest.mark.parametrize(
    "wrap",
    [
        lambda deep: b'{"a": ' + deep + b"}",  # a single object, in an ignored field
        lambda deep: b"[" + json.dumps(minimal_event(0)).encode()[:-1] + b', "x": ' + deep + b"}]",
        lambda deep: b"[" + deep + b"]",
    ],
)
def test_json_nested_a_thousand_levels_is_a_wire_error_naming_the_position(wrap):
    body = wrap(b"[" * 1000 + b"]" * 1000)
    message = r"^JSON nested too deeply: more than 500 levels at position \d+ of the body\.$"
    with pytest.raises(WireError, match=message):
        parse(body)


def test_a_deeply_nested_ndjson_line_rejects_only_that_line():
    body = ndjson(minimal_event(0)) + b'{"x": ' + b"[" * 1000 + b"]" * 1000 + b"}\n"
    parsed = parse(body, "application/x-ndjson")
    assert parsed.indices == [0]
    # "{" is level 1 and the first "[" (position 6) level 2: level 501 opens at 6 + 499.
    message = "JSON nested too deeply: more than 500 levels at position 505 of the line."
    assert parsed.rejected == [{"index": 1, "errors": {"non_field_errors": [message]}}]


def test_the_nesting_scan_skips_brackets_inside_strings():
    assert wire._deep_position(b'["[[[[", {"a": "\\"[["}, [[]]]', 2) == 25
    assert wire._deep_position(b'["[[[[[[[["]', 1) is None


def test_event_types_have_one_definition():
    from apps.events import choices

    assert tuple(choices.EventType.values) == wire.EVENT_TYPES
    assert wire.WireEvent.__annotations__["type"] == "EventTypeName"
    assert msgspec.json.decode(b'"complained"', type=wire.EventTypeName) == "complained"
