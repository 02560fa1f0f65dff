"""The alerts API: rule CRUD and preview, channels (secret write-only) and test-send, alerts + ack, silences."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.alerts.models import Alert, Channel, Notification, Rule, Silence
from apps.core.models import AuditLog
from tests.nodes.factories import NodeFactory

from .factories import ChannelFactory, RuleFactory, report

pytestmark = pytest.mark.django_db
RULE = {"name": "Queue stuck", "source": "node.queue", "condition": ">", "threshold": 1000, "for_seconds": 300,
        "min_volume": 0, "severity": "critical", "scope": "role:postfix", "enabled": True, "channels": []}


def test_an_operator_creates_reads_and_replaces_a_rule(operator_client):
    channel = ChannelFactory()
    created = operator_client.post("/api/v1/alerts/rules", {**RULE, "channels": [channel.pk]},
                                   content_type="application/json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["window_seconds"] == 900 and body["channels"] == [channel.pk]
    url = f"/api/v1/alerts/rules/{body['id']}"
    assert operator_client.get(url).json()["scope"] == "role:postfix"
    replaced = operator_client.put(url, {**RULE, "threshold": 5000}, content_type="application/json")
    assert replaced.status_code == 200 and replaced.json()["threshold"] == 5000 and replaced.json()["channels"] == []
    assert AuditLog.objects.filter(action__in=["rule.create", "rule.change"]).count() == 2


@pytest.mark.parametrize(("field", "value"), [
    ("scope", "rack:7"), ("scope", "node:"), ("source", "node.temperature"), ("condition", ">="),
    ("severity", "fatal"), ("channels", [999999]), ("window_seconds", 10),
])
def test_a_bad_rule_is_refused_naming_the_field(operator_client, field, value):
    response = operator_client.post("/api/v1/alerts/rules", {**RULE, field: value}, content_type="application/json")
    assert response.status_code == 400 and field in response.json()


def test_a_duplicate_rule_name_is_refused(operator_client):
    RuleFactory(name="Queue stuck")
    response = operator_client.post("/api/v1/alerts/rules", RULE, content_type="application/json")
    assert response.status_code == 400 and "name" in response.json()


def test_a_viewer_reads_but_cannot_write_and_only_an_admin_deletes(viewer_client, operator_client,
                                                                       admin_role_client):
    rule = RuleFactory()
    assert viewer_client.get("/api/v1/alerts/rules").status_code == 200
    assert viewer_client.post("/api/v1/alerts/rules", RULE, content_type="application/json").status_code == 403
    assert operator_client.delete(f"/api/v1/alerts/rules/{rule.pk}").status_code == 403
    assert admin_role_client.delete(f"/api/v1/alerts/rules/{rule.pk}").status_code == 204
    assert not Rule.objects.exists()


def test_preview_says_what_the_rule_would_fire_on_and_changes_nothing(viewer_client):
    rule = RuleFactory(source="node.cpu", threshold=80)
    now = timezone.now()
    report(NodeFactory(hostname="hot.example.net"), now, cpu_percent=97)
    report(NodeFactory(hostname="cool.example.net"), now, cpu_percent=12)
    body = viewer_client.post(f"/api/v1/alerts/rules/{rule.pk}/preview").json()
    assert body["subjects"] == 2
    assert body["matching"] == [{"subject": "node:hot.example.net", "value": 97.0, "volume": None}]
    assert not Alert.objects.exists()


def test_a_channel_secret_is_write_only(operator_client):
    response = operator_client.post("/api/v1/alerts/channels", {
        "name": "ops hook", "kind": "webhook", "url": "https://hooks.example.net/x", "secret": "hunter2",
    }, content_type="application/json")
    assert response.status_code == 201
    assert "secret" not in response.json() and response.json()["has_secret"] is True
    assert Channel.objects.get().secret == "hunter2"
    listed = operator_client.get("/api/v1/alerts/channels").content.decode()
    assert "hunter2" not in listed
    assert "hunter2" not in str(list(AuditLog.objects.values_list("after", flat=True)))


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "m", "kind": "email", "to": "not-an-address"}, "to"),
    ({"name": "m", "kind": "email"}, "to"),
    ({"name": "w", "kind": "webhook"}, "url"),
    ({"name": "w", "kind": "pager"}, "kind"),
])
def test_a_bad_channel_is_refused_naming_the_field(operator_client, body, field):
    response = operator_client.post("/api/v1/alerts/channels", body, content_type="application/json")
    assert response.status_code == 400 and field in response.json()


def test_test_send_queues_a_notification(operator_client):
    channel = ChannelFactory()
    response = operator_client.post(f"/api/v1/alerts/channels/{channel.pk}/test")
    assert response.status_code == 202
    assert Notification.objects.get(pk=response.json()["notification"]).kind == "test"


def test_alerts_filter_by_state_and_severity_and_ack(operator_client):
    rule = RuleFactory(severity="critical")
    now = timezone.now()
    firing = Alert.objects.create(rule=rule, subject="node:a", status="firing", severity="critical",
                                  pending_since=now, fired_at=now, evaluated_at=now)
    Alert.objects.create(rule=rule, subject="node:b", status="resolved", severity="warning",
                         pending_since=now, fired_at=now, resolved_at=now, evaluated_at=now)
    body = operator_client.get("/api/v1/alerts?state=firing&severity=critical").json()
    assert [a["subject"] for a in body["results"]] == ["node:a"]
    assert operator_client.get("/api/v1/alerts?state=bogus").status_code == 400
    acked = operator_client.post(f"/api/v1/alerts/{firing.pk}/ack", {"comment": "looking"},
                                 content_type="application/json")
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "operator"
    assert operator_client.post("/api/v1/alerts/999999/ack").status_code == 404


def test_silences_are_created_with_an_author_and_checked(operator_client):
    ends = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    response = operator_client.post("/api/v1/alerts/silences", {
        "matchers": {"rule": "CPU*"}, "ends_at": ends, "comment": "upgrade"}, content_type="application/json")
    assert response.status_code == 201 and response.json()["author"] == "operator" and response.json()["active"]
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    bad = operator_client.post("/api/v1/alerts/silences", {"matchers": {"rule": "x"}, "ends_at": past,
                                                           "comment": "x"}, content_type="application/json")
    assert bad.status_code == 400 and "ends_at" in bad.json()
    empty = operator_client.post("/api/v1/alerts/silences", {"matchers": {}, "ends_at": ends, "comment": "x"},
                                 content_type="application/json")
    assert empty.status_code == 400 and "matchers" in empty.json()
    assert Silence.objects.count() == 1
