"""Thin Celery tasks: the 30-second evaluation round and notification delivery with retries."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .models import Notification
from .notify import DeliveryError
from .services import evaluation_run, notification_deliver


@shared_task(name="alerts.evaluate", ignore_result=True)
def evaluate() -> dict:
    result = evaluation_run()
    return {"rules": result.rules, "fired": len(result.fired), "resolved": len(result.resolved),
            "seconds": round(result.seconds, 3)}


@shared_task(
    bind=True,
    name="alerts.send_notification",
    ignore_result=True,
    autoretry_for=(DeliveryError,),
    retry_backoff=5,
    retry_backoff_max=settings.MAILMON_ALERTS_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=settings.MAILMON_ALERTS_MAX_RETRIES,
)
def send_notification(self, notification_id: int) -> None:
    """At-least-once: a failed attempt raises DeliveryError and Celery retries with backoff;
    the last one marks the channel failing instead."""
    notification = Notification.objects.select_related("channel").filter(pk=notification_id).first()
    if notification is None or notification.status != "pending":
        return
    final = self.request.retries >= self.max_retries
    if not notification_deliver(notification=notification, final_attempt=final) and not final:
        raise DeliveryError(notification.last_error)
