"""Alerts pages: active (ack, silence), history filters, rules (save, preview), channels (test), silences."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.alerts.models import Alert, Channel, Notification, Rule, Silence
from apps.alerts.services import evaluation_run
from tests.nodes.factories import NodeFactory

from .factories import ChannelFactory, RuleFactory, report

pytestmark = pytest.mark.django_db


def _firing(rule, subject="node:mx1.example.net", severity="critical") -> Alert:
    now = timezone.now()
    return Alert.objects.create(rule=rule, subject=subject, status="firing", severity=severity,
                                pending_since=now, fired_at=now, evaluated_at=now, value=97)


def test_the_active_page_lists_firing_alerts_with_severity_and_the_nav_badge_counts_them(
    viewer_client, django_capture_on_commit_callbacks
):
    RuleFactory(name="cpu hot", for_seconds=0, severity="critical")
    report(NodeFactory(hostname="mx1.example.net"), timezone.now(), cpu_percent=97)
    assert 'id="alerts-firing-badge"' not in viewer_client.get("/alerts/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        evaluation_run()
    body = viewer_client.get("/alerts/").content.decode()
    assert "cpu hot" in body and "sev-critical" in body
    assert 'id="alerts-firing-badge" title="alerts firing">1<' in body
    assert 'data-count="firing">1<' in body
    assert 'data-action="ack"' not in body  # a viewer cannot acknowledge


def test_an_empty_page_says_nothing_is_firing(viewer_client):
    assert "Nothing is firing" in viewer_client.get("/alerts/").content.decode()


def test_an_operator_acknowledges_and_silences_from_the_page(operator_client):
    alert = _firing(RuleFactory(name="cpu hot"))
    response = operator_client.post(f"/alerts/{alert.pk}/ack", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.acknowledged_by.username == "operator"
    operator_client.post(f"/alerts/{alert.pk}/silence", {"hours": "1"})
    assert Silence.objects.get().matchers == {"rule": "cpu hot", "subject": "node:mx1.example.net"}
    assert Alert.objects.firing().count() == 1  # still shown


def test_history_filters_by_state(viewer_client):
    rule = RuleFactory()
    _firing(rule, subject="node:a")
    resolved = _firing(rule, subject="node:b")
    resolved.status = "resolved"
    resolved.save()
    body = viewer_client.get("/alerts/history/?state=resolved").content.decode()
    assert "node:b" in body and "node:a" not in body


def test_rules_page_saves_a_rule_and_previews_it(operator_client):
    response = operator_client.post("/alerts/rules/", {
        "name": "queue", "source": "node.queue", "condition": ">", "threshold": "1000", "for_seconds": "300",
        "window_seconds": "900", "min_volume": "0", "severity": "warning", "scope": "fleet", "group_by": "",
        "hysteresis": "0", "resolve_seconds": "60", "enabled": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = Rule.objects.get(name="queue")
    preview = operator_client.post(f"/alerts/rules/{rule.pk}/preview").content.decode()
    assert "No current data" in preview


def test_a_bad_scope_on_the_rules_page_names_the_field(operator_client):
    response = operator_client.post("/alerts/rules/", {
        "name": "bad", "source": "node.queue", "condition": ">", "threshold": "1", "for_seconds": "0",
        "window_seconds": "900", "min_volume": "0", "severity": "warning", "scope": "rack:1",
        "hysteresis": "0", "resolve_seconds": "60"})
    assert response.status_code == 200 and "is not a scope" in response.content.decode()


def test_channels_page_keeps_the_secret_hidden_and_test_sends(operator_client):
    operator_client.post("/alerts/channels/", {"name": "hook", "kind": "webhook",
                                                "url": "https://hooks.example.net/a", "secret": "hunter2"})
    channel = Channel.objects.get()
    assert channel.secret == "hunter2"
    page = operator_client.get("/alerts/channels/").content.decode()
    assert "hunter2" not in page and "set" in page
    operator_client.post(f"/alerts/channels/{channel.pk}/test", HTTP_HX_REQUEST="true")
    assert Notification.objects.get().kind == "test"


def test_silences_page_creates_and_expires(operator_client):
    operator_client.post("/alerts/silences/", {"matchers": "rule=CPU*, severity=warning", "hours": "2",
                                                "comment": "upgrade"})
    silence = Silence.objects.get()
    assert silence.matchers == {"rule": "CPU*", "severity": "warning"} and silence.author.username == "operator"
    operator_client.post(f"/alerts/silences/{silence.pk}/expire")
    silence.refresh_from_db()
    assert not silence.active_at(timezone.now())


def test_a_viewer_cannot_create_channels(viewer_client):
    viewer_client.post("/alerts/channels/", {"name": "x", "kind": "webhook", "url": "https://x.example"})
    assert not Channel.objects.exists()
    ChannelFactory()
    assert viewer_client.post(f"/alerts/channels/{Channel.objects.get().pk}/test").status_code == 403
