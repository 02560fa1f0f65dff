"""Delivery: real webhook and SMTP receivers on loopback, grouping, retries, silences and acks."""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import hmac
import json

import pytest
from django.utils import timezone

from apps.alerts import services, tasks
from apps.alerts.models import Alert, Channel, Notification, NotificationAttempt
from apps.alerts.notify import SIGNATURE_HEADER
from apps.alerts.services import evaluation_run
from tests.nodes.factories import NodeFactory

from .factories import ChannelFactory, RuleFactory, report
from .receivers import http_receiver, smtp_server

pytestmark = pytest.mark.django_db
STEP = dt.timedelta(seconds=30)


def _deliver_pending() -> list[Notification]:
    """What the worker would do: run every queued notification's task (retries included)."""
    pending = list(Notification.objects.filter(status="pending"))
    for notification in pending:
        tasks.send_notification.apply(args=[notification.pk])
    return pending


def _evaluate(now, nodes, cpu):
    for node in nodes:
        report(node, now, cpu_percent=cpu)
    evaluation_run(now=now)
    return _deliver_pending()


def test_a_webhook_arrives_signed_and_grouped_per_rule_once_over_ten_evaluations():
    with http_receiver() as receiver:
        channel = ChannelFactory(url=receiver.url + "/hook", secret="hook-key")
        rule = RuleFactory(name="cpu", for_seconds=0)
        rule.channels.set([channel])
        nodes = [NodeFactory(hostname="mx1.example.net"), NodeFactory(hostname="mx2.example.net")]
        start = timezone.now()
        for i in range(10):
            _evaluate(start + i * STEP, nodes, 95)
        assert len(receiver.requests) == 1
        path, headers, body = receiver.requests[0]
        expected = "sha256=" + hmac.new(b"hook-key", body, hashlib.sha256).hexdigest()
        assert path == "/hook" and headers[SIGNATURE_HEADER] == expected
        payload = json.loads(body)
        assert payload["kind"] == "firing" and payload["rule"] == "cpu"
        assert sorted(a["subject"] for a in payload["alerts"]) == ["node:mx1.example.net", "node:mx2.example.net"]

        _evaluate(start + 10 * STEP, nodes, 5)
        assert len(receiver.requests) == 2
        resolved = json.loads(receiver.requests[1][2])
        assert resolved["kind"] == "resolved" and len(resolved["alerts"]) == 2


def test_the_alertmanager_shape_is_what_alertmanager_receivers_expect():
    with http_receiver() as receiver:
        channel = ChannelFactory(url=receiver.url, alertmanager=True, secret="")
        RuleFactory(name="cpu", for_seconds=0, severity="critical").channels.set([channel])
        _evaluate(timezone.now(), [NodeFactory(hostname="mx1.example.net")], 95)
        _, headers, body = receiver.requests[0]
        payload = json.loads(body)
        assert SIGNATURE_HEADER not in headers
        assert payload["version"] == "4" and payload["status"] == "firing"
        assert payload["groupLabels"] == {"alertname": "cpu"}
        alert = payload["alerts"][0]
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["subject"] == "node:mx1.example.net"
        assert alert["startsAt"].endswith("Z") and alert["status"] == "firing"


def test_an_email_arrives_at_a_real_smtp_server(settings):
    with smtp_server() as (controller, sink):
        settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
        channel = ChannelFactory(kind="email", url="", to="ops@example.net, oncall@example.net", secret="")
        RuleFactory(name="cpu above 80", for_seconds=0).channels.set([channel])
        _evaluate(timezone.now(), [NodeFactory(hostname="mx1.example.net")], 95)
        assert len(sink.messages) == 1
        envelope = sink.messages[0]
        assert sorted(envelope.rcpt_tos) == ["oncall@example.net", "ops@example.net"]
        message = email.message_from_bytes(envelope.content)
        assert "[FIRING] cpu above 80" in message["Subject"]
        assert "node:mx1.example.net" in message.get_payload()


def test_a_failing_receiver_is_retried_then_its_channel_raises_a_portal_alert(settings):
    with http_receiver() as receiver:
        receiver.status = 500
        channel = ChannelFactory(url=receiver.url)
        RuleFactory(name="cpu", for_seconds=0).channels.set([channel])
        RuleFactory(name="channels", source="alerts.channel_failed", threshold=0, for_seconds=0)
        now = timezone.now()
        (notification,) = _evaluate(now, [NodeFactory()], 95)
        notification.refresh_from_db()
        retries = tasks.send_notification.max_retries
        assert len(receiver.requests) == retries + 1
        assert notification.status == "failed" and notification.attempts == retries + 1
        assert NotificationAttempt.objects.filter(notification=notification, ok=False).count() == retries + 1
        channel.refresh_from_db()
        assert channel.failing_since is not None and "HTTP 500" in channel.last_error

        evaluation_run(now=now + STEP)
        assert Alert.objects.firing().filter(rule__name="channels", subject=f"channel:{channel.name}").exists()


def test_a_receiver_that_recovers_gets_the_message_on_a_retry():
    with http_receiver() as receiver:
        receiver.status = 503
        channel = ChannelFactory(url=receiver.url)
        notification = services.channel_test(channel=channel, actor=None)
        original = services.deliver

        def recover_after_two(channel, payload):
            if len(receiver.requests) >= 2:
                receiver.status = 200
            return original(channel, payload)

        services.deliver = recover_after_two
        try:
            tasks.send_notification.apply(args=[notification.pk])
        finally:
            services.deliver = original
        notification.refresh_from_db()
        assert notification.status == "sent" and notification.attempts == 3
        assert list(notification.attempt_log.values_list("ok", flat=True)) == [False, False, True]


def test_a_silence_stops_notifications_but_the_alert_stays_firing_and_is_told_when_it_ends():
    with http_receiver() as receiver:
        channel = ChannelFactory(url=receiver.url)
        RuleFactory(name="cpu", for_seconds=0).channels.set([channel])
        node = NodeFactory(hostname="mx1.example.net")
        now = timezone.now()
        silence = services.silence_create(actor=None, matchers={"rule": "cpu", "subject": "node:mx1*"},
                                          starts_at=now - STEP, ends_at=now + 2 * STEP, comment="maintenance")
        _evaluate(now, [node], 95)
        _evaluate(now + STEP, [node], 95)
        assert receiver.requests == []
        assert Alert.objects.firing().count() == 1
        assert silence.active_at(now + STEP) and not silence.active_at(now + 2 * STEP)
        _evaluate(now + 2 * STEP, [node], 95)
        assert len(receiver.requests) == 1


def test_an_acknowledged_alert_is_not_notified_again_not_even_when_it_resolves():
    with http_receiver() as receiver:
        channel = ChannelFactory(url=receiver.url)
        RuleFactory(name="cpu", for_seconds=0).channels.set([channel])
        node = NodeFactory()
        now = timezone.now()
        _evaluate(now, [node], 95)
        assert len(receiver.requests) == 1
        services.alert_ack(alert=Alert.objects.get(), actor=None, comment="on it")
        _evaluate(now + STEP, [node], 5)
        assert Alert.objects.get().status == "resolved"
        assert len(receiver.requests) == 1


def test_an_acknowledged_alert_that_fires_before_being_told_is_never_told():
    with http_receiver() as receiver:
        channel = ChannelFactory(url=receiver.url)
        RuleFactory(name="cpu", for_seconds=60).channels.set([channel])
        node = NodeFactory()
        now = timezone.now()
        _evaluate(now, [node], 95)
        services.alert_ack(alert=Alert.objects.get(), actor=None)
        _evaluate(now + 2 * STEP, [node], 95)
        assert Alert.objects.get().status == "firing" and receiver.requests == []


def test_a_disabled_channel_gets_nothing():
    with http_receiver() as receiver:
        channel = ChannelFactory(url=receiver.url, enabled=False)
        RuleFactory(name="cpu", for_seconds=0).channels.set([channel])
        _evaluate(timezone.now(), [NodeFactory()], 95)
        assert receiver.requests == [] and not Channel.objects.get().notifications.exists()
