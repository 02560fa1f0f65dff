"""Fuzzing the ingest body: random and mutated bodies never reach a 5xx and never hang.

The parser is fuzzed on its own (thousands of cheap examples: only WireError may escape)
and through the endpoint (a few hundred: every answer is a JSON 202 or 4xx).
"""

from __future__ import annotations

import gzip
import json
import time

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apps.events.wire import WireError, parse_batch
from tests.events.wire_samples import wire_event

from .test_ingest_api import URL

# Bounded and reproducible enough for CI: no example database in the checkout, no deadline
# (a loaded machine is not a failure); "no hang" is asserted per request instead.
FUZZ = hypothesis_settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
HANG_SECONDS = 10.0


def _valid_body(count: int) -> bytes:
    return json.dumps([wire_event(n, time="2026-11-25T10:00:00Z") for n in range(count)]).encode()


@st.composite
def mutated_bodies(draw) -> bytes:
    """A valid batch, then a few byte-level edits: flips, inserts, cuts, Latin-1, deep nesting."""
    body = bytearray(_valid_body(draw(st.integers(1, 3))))
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["flip", "insert", "cut", "latin1", "nest", "duplicate"]))
        at = draw(st.integers(0, len(body)))
        if edit == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif edit == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "cut":
            del body[at : at + draw(st.integers(1, 40))]
        elif edit == "latin1":
            body[at:at] = b"M\xfcller"
        elif edit == "nest":
            depth = draw(st.sampled_from([10, 600, 1100]))
            body[at:at] = b"[" * depth + b"]" * depth
        else:
            body += body[at:]
    return bytes(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=400),
    mutated_bodies(),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.lists(json_values, max_size=5).map(lambda lines: b"\n".join(json.dumps(v).encode() for v in lines)),
)
content_types = st.sampled_from(["application/json", "application/x-ndjson", "text/plain"])


@FUZZ
@given(body=bodies, content_type=content_types)
def test_the_parser_only_ever_raises_wire_error(body, content_type):
    try:
        parsed = parse_batch(body, content_type)
    except WireError as exc:
        assert exc.message
        return
    assert len(parsed.indices) == len(parsed.events)
    indices = parsed.indices + [item["index"] for item in parsed.rejected]
    assert len(set(indices)) == len(indices)


@pytest.mark.django_db
@hypothesis_settings(FUZZ, max_examples=250)
@given(body=bodies, content_type=content_types, gzipped=st.booleans())
def test_no_body_reaches_a_5xx_or_hangs(client, agent_headers, settings, body, content_type, gzipped):
    settings.MAILMON_AGENT_RATE_LIMIT = "100000/second"  # hypothesis posts faster than a shipper
    extra = {"HTTP_CONTENT_ENCODING": "gzip"} if gzipped else {}
    started = time.monotonic()
    response = client.post(URL, data=gzip.compress(body) if gzipped else body, content_type=content_type,
                           **agent_headers, **extra)  # fmt: skip
    assert time.monotonic() - started < HANG_SECONDS
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    if response.status_code == 202:  # "[]" is a valid, empty batch
        assert answer["accepted"] >= 0 and isinstance(answer["rejected"], list)
    else:
        assert response.status_code in (400, 413), answer
        assert answer["detail"]
