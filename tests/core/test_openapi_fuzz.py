"""Schemathesis against the live schema: no 5xx, and every answer is one the schema documents.

The schema is fetched from the running application (``/api/schema/`` through the whole
WSGI stack, as a logged-in viewer), and every operation in it is called with generated
valid and invalid inputs: staff endpoints as a viewer (session cookie), agent endpoints
with an agent key. Any 5xx, any status code the operation does not document and any
body or content type that contradicts the schema fails the test. The case budget is
fixed (``MAX_EXAMPLES`` per operation and generation mode, derandomized), so the run
is bounded and repeatable.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.alerts.models import Alert
from apps.core import timeseries
from apps.core.roles import ADMIN, OPERATOR, VIEWER
from apps.nodes.models import NodeMetric
from apps.pools.models import IpPool
from tests.alerts.factories import ChannelFactory, RuleFactory
from tests.core.factories import UserFactory, make_agent_key
from tests.events.factories import random_events, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory
from tests.warmup.factories import MailboxFactory

# Per operation and mode (positive, negative): ~300 calls over the 10 operations. A longer
# hunt: MAILMON_FUZZ_EXAMPLES=500 pytest tests/core/test_openapi_fuzz.py
MAX_EXAMPLES = int(os.environ.get("MAILMON_FUZZ_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
AGENT_OPERATIONS = {"/api/v1/nodes/metrics", "/api/v1/events/ingest", "/api/v1/mta/pools"}
# Random path parameters and bodies rarely name a row that exists: one known-good call each,
# so the positive run still shows that the caller got in (a 2xx) on these operations.
CSRF_SECRET = "k" * 32
JSON = "application/json"


def _pool(name: str) -> dict:
    return {"id": IpPool.objects.get_or_create(name=name)[0].pk}  # (a fuzzed call may have renamed it)


# Paths an admin calls: admin-only endpoints, and those scoped to the caller's own rows.
ADMIN_PREFIXES = ("/api/v1/warmup/",)


@pytest.fixture
def known_cases(fleet) -> dict:
    """One known-good call per operation that random input rarely gets right; a value may be a
    callable, for rows whose id is only known (or may have been renamed by a fuzzed call) later."""
    admin = UserFactory(username="fuzz-admin", role=ADMIN)
    kept, doomed = MailboxFactory(owner=admin), MailboxFactory(owner=admin)
    return {
        "GET /api/v1/dnsbl/ips/{ip}/history": {"path_parameters": {"ip": "198.51.100.1"}},
        "POST /api/v1/dnsbl/check": {"body": {"ips": ["198.51.100.1"]}, "media_type": "application/json"},
        "GET /api/v1/warmup/mailboxes/{id}": {"path_parameters": {"id": kept.id}},
        "PUT /api/v1/warmup/mailboxes/{id}": {
            "path_parameters": {"id": kept.id},
            "body": {"address": kept.address, "smtp_host": "127.0.0.1", "smtp_port": 2525, "smtp_security": "none",
                     "daily_target": 40, "enabled": True},
            "media_type": "application/json",
        },
        "DELETE /api/v1/warmup/mailboxes/{id}": {"path_parameters": {"id": doomed.id}},
        "GET /api/v1/warmup/mailbox": {"query": {"id": kept.id}},
        "POST /api/v1/warmup/control": {"body": {"action": "stop"}, "media_type": "application/json"},
        "POST /api/v1/warmup/mailboxes/import": {
            "query": {"dry_run": True},
            "body": (
                "address,smtp_host,smtp_port,smtp_security,username,password,daily_target\n"
                "new@box.example.test,127.0.0.1,2525,none,new,secret,30\n"
            ),
            "media_type": "text/csv",
        },
        "POST /api/v1/ips/bulk": {"body": {"ips": ["198.51.100.1"], "action": "pause"}, "media_type": JSON},
        "POST /api/v1/ips/range": {"body": {"cidr": "203.0.113.0/30", "dry_run": True}, "media_type": JSON},
        "POST /api/v1/ips/ptr/check": {"body": {"ips": ["198.51.100.1"]}, "media_type": JSON},
        "PUT /api/v1/ips/{ip}/warmup": {"path_parameters": {"ip": "198.51.100.1"}, "body": {"schedule": "default"},
                                        "media_type": JSON},
        "POST /api/v1/ips/pools": {"body": {"name": "fuzz-pool"}, "media_type": JSON},
        "GET /api/v1/ips/pools/{id}": lambda: {"path_parameters": _pool("transactional")},
        "PATCH /api/v1/ips/pools/{id}": lambda: {
            "path_parameters": _pool("transactional"), "body": {}, "media_type": JSON
        },
        "PUT /api/v1/ips/pools/{id}": lambda: {"path_parameters": _pool("transactional"),
                                               "body": {"name": "transactional"}, "media_type": JSON},
        "DELETE /api/v1/ips/pools/{id}": lambda: {"path_parameters": _pool("bulk")},
        "GET /api/v1/nodes/{hostname}": {"path_parameters": {"hostname": "mta-1.example.net"}},
        "GET /api/v1/nodes/{hostname}/metrics": {"path_parameters": {"hostname": "mta-1.example.net"}},
        # ZoneMTA cluster views: fleet[0] is a ZoneMTA node (the factory's default role) with an hour of events.
        "GET /api/v1/zonemta/nodes/{id}/performance": {"path_parameters": {"id": fleet[0].id},
                                                       "query": {"range": "1h"}},
        "GET /api/v1/zonemta/nodes/{id}/ips": {"path_parameters": {"id": fleet[0].id}},
        "GET /api/v1/zonemta/nodes/{id}/destinations": {"path_parameters": {"id": fleet[0].id}},
        # Alerts: rows with these ids exist (fixture ``fleet``); a rule named by a scope and bodies a
        # random generator seldom gets right (scope syntax, a future ends_at).
        "GET /api/v1/alerts/rules/{id}": {"path_parameters": {"id": 900001}},
        "PUT /api/v1/alerts/rules/{id}": {
            "path_parameters": {"id": 900001}, "media_type": "application/json",
            "body": {"name": "fuzz rule", "source": "node.cpu", "condition": ">", "threshold": 90, "scope": "fleet"},
        },
        "DELETE /api/v1/alerts/rules/{id}": {"path_parameters": {"id": 900002}},
        "POST /api/v1/alerts/rules/{id}/preview": {"path_parameters": {"id": 900001}},
        "POST /api/v1/alerts/rules": {
            "media_type": "application/json",
            "body": {"name": "fuzz new rule", "source": "node.queue", "condition": ">", "threshold": 1000,
                     "scope": "role:postfix"},
        },
        "POST /api/v1/alerts/channels": {
            "media_type": "application/json",
            "body": {"name": "fuzz channel", "kind": "webhook", "url": "https://hooks.example.net/x", "secret": "k"},
        },
        "POST /api/v1/alerts/channels/{id}/test": {"path_parameters": {"id": 900001}},
        "POST /api/v1/alerts/{id}/ack": {"path_parameters": {"id": 900001}},
        "POST /api/v1/alerts/silences": {
            "media_type": "application/json",
            "body": {"matchers": {"rule": "CPU*"}, "ends_at": "2999-01-01T00:00:00Z", "comment": "fuzz"},
        },
    }

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(db):
    """Two nodes, two pools with an IP each, an hour of events and queue reports: answers with content."""
    nodes = [NodeFactory(hostname="mta-1.example.net"), NodeFactory(hostname="mta-2.example.net")]
    pools = [IpPoolFactory(name="transactional"), IpPoolFactory(name="bulk")]
    SendingIPFactory(address="198.51.100.1", node=nodes[0], pool=pools[0])
    SendingIPFactory(address="2001:db8::1", node=nodes[1], pool=pools[1])
    now = timezone.now()
    store_events(random_events(count=300, start=now - dt.timedelta(hours=1), span=dt.timedelta(hours=1),
                               node_ids=[n.id for n in nodes], ips=["198.51.100.1", "2001:db8::1", None]))
    timeseries.ensure_partitions(NodeMetric._meta.db_table, [now.date(), (now - dt.timedelta(hours=1)).date()])
    for minutes in (50, 20, 2):
        NodeMetric.objects.create(node=nodes[0], time=now - dt.timedelta(minutes=minutes), queue_size=minutes)
    rule = RuleFactory(pk=900001, name="fuzz cpu")
    RuleFactory(pk=900002, name="fuzz doomed")
    ChannelFactory(pk=900001, name="fuzz hook")
    Alert.objects.create(pk=900001, rule=rule, subject="node:mta-1.example.net", status="firing",
                         severity="warning", pending_since=now, fired_at=now, evaluated_at=now)
    return nodes


@pytest.fixture
def viewer(fleet) -> Client:
    client = Client()
    client.force_login(UserFactory(username="fuzz-viewer", role=VIEWER))
    return client


@pytest.fixture
def auth(viewer) -> dict[str, dict]:
    """What each caller sends: a viewer's (reads) or an operator's (writes) session cookie, or a
    fleet-wide agent key."""
    _, key = make_agent_key("fuzz-agent", allowed_cidrs=["127.0.0.0/8", "::1/128"])
    loopback = {"REMOTE_ADDR": "127.0.0.1"}  # werkzeug's test client sets no client address
    operator = Client()
    operator.force_login(UserFactory(username="fuzz-operator", role=OPERATOR))
    admin = Client()
    admin.force_login(UserFactory(username="fuzz-admin-caller", role=ADMIN))
    return {
        "admin": {  # admin-only endpoints, and deletes (the Admin role's)
            "cookies": {"sessionid": admin.cookies["sessionid"].value, "csrftoken": CSRF_SECRET},
            "headers": {"X-CSRFToken": CSRF_SECRET},
            "environ_base": loopback,
        },
        "viewer": {"cookies": {"sessionid": viewer.cookies["sessionid"].value}, "environ_base": loopback},
        "operator": {  # a session's writes need Django's CSRF pair, as from the portal's pages
            "cookies": {"sessionid": operator.cookies["sessionid"].value, "csrftoken": CSRF_SECRET},
            "headers": {"X-CSRFToken": CSRF_SECRET},
            "environ_base": loopback,
        },
        "agent": {"headers": {"Authorization": f"Api-Key {key}"}, "environ_base": loopback},
    }


@pytest.fixture
def api_schema(viewer):
    """The schema as the application serves it to a viewer, exercised in process through WSGI.

    Like Django's test client, keep the request signals from closing the test's connection
    (it holds the test transaction, so every request sees the fixtures' rows).
    """
    response = viewer.get("/api/schema/?format=json")
    assert response.status_code == 200
    loaded = schemathesis.openapi.from_dict(response.json())
    loaded.app = get_wsgi_application()  # what schemathesis.openapi.from_wsgi sets (it cannot send a cookie)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield loaded
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _fuzz(operation, mode: GenerationMode, caller: dict) -> set[int]:
    """Call ``operation`` with up to MAX_EXAMPLES generated cases; returns the statuses seen.

    Raises the first failure (shrunk by hypothesis)."""
    statuses: set[int] = set()

    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case) -> None:
        statuses.add(case.call_and_validate(checks=CHECKS, **caller).status_code)

    call()
    return statuses


def _caller(operation) -> str:
    if operation.path in AGENT_OPERATIONS:
        return "agent"
    if operation.path.startswith(ADMIN_PREFIXES):
        return "admin"
    method = operation.method.upper()
    return "viewer" if method == "GET" else "admin" if method == "DELETE" else "operator"


# schemathesis' own pytest integration (schema.parametrize) does not run on pytest 9 (it sets
# Node._nodeid); each operation's hypothesis strategy is driven here instead.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_within_its_schema(api_schema, auth, known_cases, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, [operation.label for operation in operations]
    failures: dict[str, BaseException] = {}
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        caller = auth[_caller(operation)]
        try:
            statuses[operation.label] = _fuzz(operation, mode, caller)
            if mode == GenerationMode.POSITIVE and operation.label in known_cases:
                known = known_cases[operation.label]
                case = operation.Case(**(known() if callable(known) else known))
                statuses[operation.label].add(case.call_and_validate(checks=CHECKS, **caller).status_code)
        except (AssertionError, BaseExceptionGroup) as failure:  # every operation runs; all are reported
            failures[operation.label] = failure
    assert not failures, "\n\n".join(f"{label}:\n{failure}" for label, failure in failures.items())
    if mode == GenerationMode.POSITIVE:  # the callers really got in: each operation answered a 2xx
        never_in = {label: seen for label, seen in statuses.items() if not any(200 <= s < 300 for s in seen)}
        assert not never_in, never_in
