"""Thin Celery tasks: the beat cycle, per-minute dispatch, chunks of sends, engagement, cleanup."""

from __future__ import annotations

from celery import shared_task

from . import services, services_send


@shared_task(name="warmup.plan_cycle", ignore_result=True)
def plan_cycle(force: bool = False) -> int:
    cycle = services.cycle_run(force=force)
    return len(cycle.sends) if cycle else 0


@shared_task(name="warmup.dispatch_batch", ignore_result=True)
def dispatch_batch(entries: list[list]) -> None:
    """One minute of a cycle (``[sender, recipient, offset]``): chunks staggered over the minute."""
    for countdown, chunk in services_send.chunks_plan(entries):
        send_chunk.apply_async(args=[chunk], countdown=countdown)


@shared_task(name="warmup.send_chunk", ignore_result=True)
def send_chunk(entries: list[list]) -> list[str]:
    """Send a chunk (entries ``[sender, recipient, attempt?, reply_to?, subject?]``); retries,
    sends waiting on a limit and replies go out again as later chunks."""
    sends = [services_send.SendSpec(*entry) for entry in entries]
    results = services_send.sends_perform(sends=sends)
    for countdown, later in services_send.followups(sends, results):
        send_chunk.apply_async(args=[later], countdown=countdown)
    return [result.outcome for result in results]


@shared_task(name="warmup.send", ignore_result=True)
def send(sender_id: int, recipient_id: int, attempt: int = 1, reply_to: str | None = None,
         subject: str | None = None) -> str:
    """One send as a chunk of one (messages queued before chunks existed still arrive here)."""
    return send_chunk([[sender_id, recipient_id, attempt, reply_to, subject]])[0]


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
