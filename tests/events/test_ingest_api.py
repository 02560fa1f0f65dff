"""POST /api/v1/events/ingest: formats, validation, durability, backpressure, schema."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from apps.core.db_gate import DatabaseGate
from apps.core.metrics import render
from apps.events import ingest
from apps.events.models import EmailEvent, IngestBatch
from apps.events.services import inbox_drain
from tests.core.factories import make_agent_key
from tests.events.wire_samples import wire_event
from tests.nodes.factories import NodeFactory

URL = "/api/v1/events/ingest"
NOW = datetime.now(UTC).replace(microsecond=0)


def event(n: int = 0, **fields) -> dict:
    defaults = {
        "event_id": f"ev-{n}",
        "time": (NOW - timedelta(minutes=n)).isoformat().replace("+00:00", "Z"),
        "message_id": f"<m{n}@example.com>",
        "to": f"user{n}@gmail.com",
        "response": "250 2.0.0 OK  1764064800 a1b2c3 - gsmtp",
    }
    return wire_event(n, **{**defaults, **fields})


def post(client, headers, body, content_type="application/json", **extra):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return client.post(URL, data=body, content_type=content_type, **headers, **extra)


@pytest.fixture(autouse=True)
def _no_broker(settings):
    # The API dispatches a Celery task after commit; these tests run the worker's
    # service themselves, so the message only needs to be published (to Redis).
    settings.CELERY_TASK_ALWAYS_EAGER = False


@pytest.mark.django_db
def test_it_accepts_a_json_array_and_stores_it_in_the_inbox_until_a_worker_runs(client, agent_headers):
    response = post(client, agent_headers, [event(1), event(2)])
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 2
    assert response.json()["rejected"] == []
    assert IngestBatch.objects.get().events == 2
    assert EmailEvent.objects.count() == 0
    assert inbox_drain() == 2
    assert IngestBatch.objects.count() == 0
    stored = EmailEvent.objects.get(event_id="ev-1")
    assert stored.recipient_domain == "gmail.com"
    assert stored.sender_domain == "example.com"
    assert stored.node.hostname == "mta-1"
    assert stored.mx_host == "gmail-smtp-in.l.google.com"
    assert stored.delay_ms == 1234
    assert stored.bounce_category == ""


@pytest.mark.django_db
def test_it_accepts_a_single_object_and_ndjson(client, agent_headers):
    assert post(client, agent_headers, event(1)).json()["accepted"] == 1
    ndjson = "\n".join(json.dumps(event(n)) for n in (2, 3, 4)) + "\n"
    response = post(client, agent_headers, ndjson, content_type="application/x-ndjson")
    assert response.status_code == 202
    assert response.json()["accepted"] == 3
    inbox_drain()
    assert set(EmailEvent.objects.values_list("event_id", flat=True)) == {"ev-1", "ev-2", "ev-3", "ev-4"}


@pytest.mark.django_db
def test_it_accepts_gzip_bodies(client, agent_headers):
    body = gzip.compress(json.dumps([event(1), event(2)]).encode())
    response = post(client, agent_headers, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 202
    assert response.json()["accepted"] == 2


@pytest.mark.django_db
def test_malformed_json_is_400_and_stores_nothing(client, agent_headers):
    response = post(client, agent_headers, b'[{"event_id": "x", ')
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["detail"]
    assert IngestBatch.objects.count() == 0


@pytest.mark.django_db
def test_a_mixed_batch_stores_the_valid_events_and_lists_each_rejected_index(client, agent_headers):
    old = (NOW - timedelta(days=400)).isoformat()
    batch = [
        event(0),
        event(1, type="exploded"),
        event(2),
        event(3, to="not-an-address"),
        event(4, time=old),
        event(5, delay_ms=2**40),
        {"event_id": "ev-6"},
    ]
    response = post(client, agent_headers, batch)
    assert response.status_code == 202
    data = response.json()
    assert data["accepted"] == 2
    rejected = {item["index"]: item["errors"] for item in data["rejected"]}
    assert sorted(rejected) == [1, 3, 4, 5, 6]
    assert "type" in rejected[1]
    assert "to" in rejected[3]
    assert "retention" in rejected[4]["time"][0]
    assert "2147483647" in rejected[5]["delay_ms"][0]
    assert set(rejected[6]) >= {"time", "type", "node", "to"}
    inbox_drain()
    assert set(EmailEvent.objects.values_list("event_id", flat=True)) == {"ev-0", "ev-2"}


@pytest.mark.django_db
def test_storage_rule_rejections_keep_ndjson_line_numbers(client, agent_headers):
    old = (NOW - timedelta(days=400)).isoformat()
    lines = [json.dumps(event(0)), "", json.dumps(event(1, time=old)), "{broken", json.dumps(event(3))]
    response = post(client, agent_headers, "\n".join(lines), content_type="application/x-ndjson")
    data = response.json()
    assert data["accepted"] == 2
    assert [item["index"] for item in data["rejected"]] == [2, 3]
    assert "time" in data["rejected"][0]["errors"]


@pytest.mark.django_db
def test_rejected_and_accepted_events_are_counted_in_metrics(client, agent_headers):
    post(client, agent_headers, [event(0), event(1, type="nope"), event(2, to="x")])
    text = render().decode()
    assert "mailmon_events_accepted_total 1.0" in text
    assert "mailmon_events_rejected_total 2.0" in text


@pytest.mark.django_db
def test_a_batch_with_no_valid_event_is_400(client, agent_headers):
    response = post(client, agent_headers, [event(1, type="nope")])
    assert response.status_code == 400
    assert response.json()["rejected"][0]["index"] == 0
    assert IngestBatch.objects.count() == 0


@pytest.mark.django_db
def test_more_than_10000_events_is_400(client, agent_headers):
    response = post(client, agent_headers, [event(n) for n in range(10_001)])
    assert response.status_code == 400
    assert "Too many events" in response.json()["detail"]


@pytest.mark.django_db
def test_an_oversized_body_is_413_with_a_clear_message(client, agent_headers, settings):
    settings.MAILMON_INGEST_MAX_BODY_BYTES = 2048
    response = post(client, agent_headers, [event(n) for n in range(20)])
    assert response.status_code == 413
    assert "at most 2048" in response.json()["detail"]
    assert IngestBatch.objects.count() == 0


@pytest.mark.django_db
def test_an_oversized_gzip_body_is_413(client, agent_headers, settings):
    settings.MAILMON_INGEST_MAX_BODY_BYTES = 4096
    body = gzip.compress(b"[" + b" " * 100_000 + b"]")
    response = post(client, agent_headers, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


@pytest.mark.django_db
def test_it_needs_a_valid_agent_key(client, agent_key):
    assert post(client, {}, [event(1)]).status_code == 401
    wrong = {"HTTP_AUTHORIZATION": "Api-Key nope.nope", "REMOTE_ADDR": "127.0.0.1"}
    assert post(client, wrong, [event(1)]).status_code == 401
    outside = {"HTTP_AUTHORIZATION": f"Api-Key {agent_key}", "REMOTE_ADDR": "203.0.113.9"}
    assert post(client, outside, [event(1)]).status_code == 403
    assert IngestBatch.objects.count() == 0


@pytest.mark.django_db
def test_a_node_scoped_key_may_only_report_its_own_node(client):
    node = NodeFactory(hostname="mta-7")
    _, key = make_agent_key("mta-7-agent", node=node)
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}", "REMOTE_ADDR": "127.0.0.1"}
    response = post(client, headers, [event(1, node="mta-7"), event(2, node="mta-8")])
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"][0]["index"] == 1
    assert "node" in response.json()["rejected"][0]["errors"]


@pytest.mark.django_db
def test_session_users_cannot_ingest(viewer_client):
    assert post(viewer_client, {}, [event(1)]).status_code == 401


@pytest.mark.django_db
def test_get_is_405(client, agent_headers):
    assert client.get(URL, **agent_headers).status_code == 405
    assert client.options(URL).status_code == 405


@pytest.mark.django_db
def test_above_the_backlog_limit_it_answers_429_with_retry_after(client, agent_headers, settings):
    settings.MAILMON_INGEST_MAX_BACKLOG = 3
    settings.MAILMON_INGEST_RETRY_AFTER = 7
    assert post(client, agent_headers, [event(1), event(2)]).status_code == 202
    assert post(client, agent_headers, [event(3)]).status_code == 202  # 2 < 3 waiting
    response = post(client, agent_headers, [event(4)])
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert IngestBatch.objects.count() == 2
    inbox_drain()
    assert post(client, agent_headers, [event(4)]).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_with_postgresql_down_it_answers_503_with_retry_after(
    client, agent_headers, settings, monkeypatch, database_refused
):
    now = [1000.0]
    monkeypatch.setattr(ingest, "DATABASE_GATE", DatabaseGate("test", clock=lambda: now[0]))
    settings.MAILMON_INGEST_RETRY_AFTER = 11
    with database_refused():
        response = post(client, agent_headers, [event(1)])
    assert response.status_code == 503
    assert response["Retry-After"] == "11"
    assert IngestBatch.objects.count() == 0
    # For Retry-After seconds the worker answers 503 without trying (the database is back here).
    now[0] += 10
    assert post(client, agent_headers, [event(2)]).status_code == 503
    assert IngestBatch.objects.count() == 0
    now[0] += 1
    assert post(client, agent_headers, [event(3)]).status_code == 202
    assert IngestBatch.objects.count() == 1


@pytest.mark.django_db
def test_the_endpoint_is_in_the_openapi_schema(admin_role_client):
    schema = admin_role_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/events/ingest"]["post"]
    assert set(operation["responses"]) >= {"202", "400", "413", "429", "503"}
    assert "application/x-ndjson" in operation["requestBody"]["content"]


@pytest.mark.django_db
def test_the_inbox_backlog_is_a_queue_depth_in_metrics(client, agent_headers):
    post(client, agent_headers, [event(1), event(2), event(3)])
    assert 'mailmon_queue_depth{queue="events_inbox"} 3.0' in render().decode()
    inbox_drain()
    assert 'mailmon_queue_depth{queue="events_inbox"} 0.0' in render().decode()


@pytest.mark.django_db
def test_truncated_gzip_is_400_and_stores_nothing(client, agent_headers):
    body = gzip.compress(json.dumps([event(1), event(2)]).encode())
    response = post(client, agent_headers, body[:-12], HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert response.json()["detail"] == "Body is truncated gzip data (member at byte 0 does not end)."
    assert IngestBatch.objects.count() == 0


@pytest.mark.django_db
def test_an_oversized_multi_member_gzip_body_is_413(client, agent_headers, settings):
    settings.MAILMON_INGEST_MAX_BODY_BYTES = 4096
    member = gzip.compress(json.dumps([event(1)] * 8).encode())
    response = post(client, agent_headers, member * 4, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
