"""Notification payloads and the four senders (webhook, email, Slack, Telegram).

A sender raises :class:`DeliveryError` when the receiver did not take the message; the
Celery task retries it with backoff and logs every attempt. Webhook bodies are signed:
``X-Mailmon-Signature: sha256=<hex HMAC-SHA256 of the exact body, keyed with the channel secret>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from .choices import ChannelKind
from .models import Alert, Channel

SIGNATURE_HEADER = "X-Mailmon-Signature"
TIMEOUT = 10.0


class DeliveryError(Exception):
    """The receiver did not accept the message (connection error, non-2xx, SMTP refusal)."""


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "rule": alert.rule.name,
        "rule_id": alert.rule_id,
        "subject": alert.subject,
        "severity": alert.severity,
        "status": alert.status,
        "value": alert.value,
        "threshold": alert.rule.threshold,
        "condition": alert.rule.condition,
        "source": alert.rule.source,
        "labels": alert.labels(),
        "pending_since": _iso(alert.pending_since),
        "fired_at": _iso(alert.fired_at),
        "resolved_at": _iso(alert.resolved_at),
    }


def message_payload(*, kind: str, rule_name: str, alerts: list[Alert]) -> dict[str, Any]:
    """The documented mailmon webhook body (docs/alerts.md): one message per rule and round."""
    return {
        "version": 1,
        "kind": kind,
        "rule": rule_name,
        "portal_url": settings.MAILMON_PUBLIC_URL,
        "alerts": [alert_payload(a) for a in alerts],
    }


def alertmanager_payload(payload: dict[str, Any], receiver: str) -> dict[str, Any]:
    """Prometheus Alertmanager's webhook shape (version 4), so existing receivers work unchanged."""
    status = "resolved" if payload["kind"] == "resolved" else "firing"
    alerts = [
        {
            "status": "resolved" if a["status"] == "resolved" else "firing",
            "labels": a["labels"],
            "annotations": {"summary": f"{a['source']} {a['condition']} {a['threshold']:g} on {a['subject']}",
                            "value": "" if a["value"] is None else f"{a['value']:g}"},
            "startsAt": a["fired_at"] or a["pending_since"],
            "endsAt": a["resolved_at"] or "0001-01-01T00:00:00Z",
            "generatorURL": f"{payload['portal_url'].rstrip('/')}/alerts/",
            "fingerprint": hashlib.sha256(f"{a['rule_id']}|{a['subject']}".encode()).hexdigest()[:16],
        }
        for a in payload["alerts"]
    ]
    common = dict(alerts[0]["labels"]) if alerts else {}
    for alert in alerts[1:]:
        common = {k: v for k, v in common.items() if alert["labels"].get(k) == v}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{payload["rule"]}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": payload["rule"]},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": payload["portal_url"],
        "alerts": alerts,
    }


def message_text(payload: dict[str, Any]) -> str:
    kind = payload["kind"].upper()
    lines = [f"[{kind}] {payload['rule']} ({len(payload['alerts'])})"]
    for a in payload["alerts"]:
        value = "—" if a["value"] is None else f"{a['value']:g}"
        lines.append(f"• {a['severity']} {a['subject']}: {a['source']} = {value} ({a['condition']} {a['threshold']:g})")
    lines.append(f"{payload['portal_url'].rstrip('/')}/alerts/")
    return "\n".join(lines)


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post_json(url: str, data: dict[str, Any], secret: str = "", label: str = "") -> str:
    label = label or url
    body = json.dumps(data, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "mailmon-alerts"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 (operator's URL)
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} from {label}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"{label}: {getattr(exc, 'reason', exc)}") from exc


def _send_email(channel: Channel, payload: dict[str, Any]) -> str:
    connection = get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        password=channel.secret or None,
        timeout=TIMEOUT,
    )
    subject = message_text(payload).splitlines()[0]
    message = EmailMessage(subject, message_text(payload), to=channel.addresses, connection=connection)
    try:
        message.send()
    except Exception as exc:  # smtplib and socket errors: the receiver did not take it
        raise DeliveryError(f"SMTP {settings.EMAIL_HOST}:{settings.EMAIL_PORT}: {exc}") from exc
    return f"accepted by {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"


def deliver(channel: Channel, payload: dict[str, Any]) -> str:
    """Send one message through ``channel``; returns a short receipt, raises DeliveryError."""
    if channel.kind == ChannelKind.WEBHOOK:
        body = alertmanager_payload(payload, channel.name) if channel.alertmanager else payload
        return _post_json(channel.url, body, channel.secret)
    if channel.kind == ChannelKind.SLACK:
        return _post_json(channel.url, {"text": message_text(payload)})
    if channel.kind == ChannelKind.TELEGRAM:
        base = (channel.url or "https://api.telegram.org").rstrip("/")
        url = f"{base}/bot{channel.secret}/sendMessage"
        return _post_json(url, {"chat_id": channel.to, "text": message_text(payload)}, label=f"{base}/bot…/sendMessage")
    return _send_email(channel, payload)
