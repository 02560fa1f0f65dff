"""Thin Celery tasks: the beat cycle, per-minute dispatch, one send, engagement, cleanup."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="warmup.plan_cycle", ignore_result=True)
def plan_cycle(force: bool = False) -> int:
    cycle = services.cycle_run(force=force)
    return len(cycle.sends) if cycle else 0


@shared_task(name="warmup.dispatch_batch", ignore_result=True)
def dispatch_batch(entries: list[list]) -> None:
    """One minute of a cycle: each send becomes its own task, staggered within the minute."""
    for sender, recipient, offset in entries:
        send.apply_async(kwargs={"sender_id": sender, "recipient_id": recipient}, countdown=offset)


@shared_task(name="warmup.send", ignore_result=True)
def send(sender_id: int, recipient_id: int, attempt: int = 1, reply_to: str | None = None,
         subject: str | None = None) -> str:
    result = services.send_perform(sender_id=sender_id, recipient_id=recipient_id, attempt=attempt,
                                   reply_to=reply_to, subject=subject)
    if result.retry_in is not None:
        # a 4xx/connection retry counts as an attempt; waiting for a limit does not
        next_attempt = attempt if result.outcome == "wait" else attempt + 1
        send.apply_async(
            kwargs={"sender_id": sender_id, "recipient_id": recipient_id, "attempt": next_attempt,
                    "reply_to": reply_to, "subject": subject},
            countdown=result.retry_in,
        )
    if result.reply:
        reply_sender, reply_recipient, message_id, reply_subject, countdown = result.reply
        send.apply_async(
            kwargs={"sender_id": reply_sender, "recipient_id": reply_recipient, "reply_to": message_id,
                    "subject": reply_subject},
            countdown=countdown,
        )
    return result.outcome


@shared_task(name="warmup.engage", ignore_result=True)
def engage(mailbox_id: int) -> None:
    from . import engagement

    engagement.mailbox_engage(mailbox_id=mailbox_id)


@shared_task(name="warmup.engage_all", ignore_result=True)
def engage_all() -> int:
    from .models import WarmupMailbox

    ids = list(WarmupMailbox.objects.receiving().exclude(imap_host="").values_list("id", flat=True))
    for mailbox_id in ids:
        engage.delay(mailbox_id)
    return len(ids)


@shared_task(name="warmup.cleanup", ignore_result=True)
def cleanup() -> dict:
    return services.cleanup()
