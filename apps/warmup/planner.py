"""Planning one cycle: which mailbox sends to whom and when. Pure Python, no Django, so the
100,000-mailbox case stays fast (bench/warmup.py) and every rule is testable in isolation.

* **Pace**: a mailbox should have sent ``ceil(quota × f)`` by the end of this cycle, where
  ``f`` is the part of the UTC day elapsed by then. What is due beyond what is planned
  (minus failures, which are replaced) is sent in this cycle, but never more than
  ``max_catchup`` × one cycle's share, so a missed cycle catches up over the next few
  cycles instead of in a burst.
* **Recipients**: all participating mailboxes form a ring for the day, shuffled with the
  day as seed and interleaved by provider so neighbours differ in provider. A sender's
  k-th send of the day goes to the (k+1)-th mailbox after it on the ring: never itself,
  never the same mailbox twice in a day while the ring is stable (a Redis set catches
  the pairs repeated after the ring changed, see services).
* **Limits**: a cycle plans no more than the global and per-user rate limits let through in
  one interval (round-robin over senders when they bind); the Redis limiter still enforces
  them at send time, across workers.
* **Stagger**: the cycle's sends are shuffled and spread evenly over the interval.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

DAY_SECONDS = 86400


class Sender(NamedTuple):
    id: int
    owner: int
    quota: int
    planned: int  # sends enqueued today
    failed: int  # of those, failed for good (they are replaced)
    seq: int  # recipients picked today (planned + picks dropped as repeated pairs)


def quota(daily_target: int, ramp_start: int, ramp_increase: int, ramp_ceiling: int, days: int) -> int:
    """Today's quota: the target is the floor; the ramp may go above it, up to its ceiling."""
    return max(daily_target, min(ramp_ceiling, ramp_start + ramp_increase * max(0, days)))


class PlannedSend(NamedTuple):
    sender: int
    recipient: int
    seq: int  # the sender's k-th send today
    offset: float  # seconds after the cycle start


@dataclass
class Ring:
    ids: list[int]
    position: dict[int, int]

    def recipient(self, sender: int, seq: int) -> int | None:
        """The mailbox ``sender`` writes to on its ``seq``-th send today; None once all were used."""
        n = len(self.ids)
        pos = self.position.get(sender)
        if pos is None or seq >= n - 1:
            return None
        return self.ids[(pos + 1 + seq) % n]


def build_ring(participants: list[tuple[int, str]], day: date) -> Ring:
    """Participants ``(id, provider)`` → the day's ring, providers interleaved."""
    rng = random.Random(day.toordinal())
    groups: dict[str, list[int]] = defaultdict(list)
    for mailbox_id, provider in participants:
        groups[provider].append(mailbox_id)
    ordered = [sorted(ids) for _, ids in sorted(groups.items())]
    for ids in ordered:
        rng.shuffle(ids)
    rng.shuffle(ordered)
    # Spread each provider evenly around the ring (largest groups set the rhythm).
    keyed = []
    for ids in ordered:
        step = 1 / len(ids)
        phase = rng.random() * step
        keyed.extend((phase + i * step, mailbox_id) for i, mailbox_id in enumerate(ids))
    keyed.sort()
    ids = [mailbox_id for _, mailbox_id in keyed]
    return Ring(ids=ids, position={mailbox_id: i for i, mailbox_id in enumerate(ids)})


def due_by(quota: int, seconds_into_day: float, interval: float, phase: float = 0.0) -> int:
    """Sends a mailbox should have made by the end of the cycle starting ``seconds_into_day``.

    ``phase`` (0 ≤ phase < 1, a fraction of one send) shifts each mailbox's sends in time, so
    that 100,000 mailboxes of 30 a day do not all send in the same cycle and then rest.
    """
    fraction = min(1.0, (seconds_into_day + interval) / DAY_SECONDS)
    return min(quota, max(0, math.ceil(quota * fraction - phase - 1e-9)))


def phase_of(mailbox_id: int) -> float:
    return (mailbox_id * 0.6180339887498949) % 1.0  # golden ratio: evenly spread for consecutive ids


def sends_this_cycle(sender: Sender, seconds_into_day: float, interval: float, max_catchup: float) -> int:
    due = due_by(sender.quota, seconds_into_day, interval, phase_of(sender.id))
    behind = due - (sender.planned - sender.failed)
    cap = max(1, math.ceil(max_catchup * sender.quota * interval / DAY_SECONDS))
    return max(0, min(behind, cap))


def plan_cycle(
    senders: list[Sender],
    ring: Ring,
    *,
    seconds_into_day: float,
    interval: float,
    max_catchup: float,
    global_cap: int | None = None,
    user_cap: int | None = None,
    seed: int | None = None,
) -> list[PlannedSend]:
    """Every send due in this cycle, with recipient and offset, in send order.

    ``global_cap``/``user_cap`` are what the rate limits let through in one interval: the cycle
    never plans more (so sends do not pile up waiting on the limiter); when they bind, sends
    are taken round-robin — every sender's first send before anyone's second.
    """
    wanted = []
    for sender in senders:
        for i in range(sends_this_cycle(sender, seconds_into_day, interval, max_catchup)):
            recipient = ring.recipient(sender.id, sender.seq + i)
            if recipient is None:
                break
            wanted.append((i, sender.owner, sender.id, recipient, sender.seq + i))
    if global_cap is not None or user_cap is not None:
        wanted.sort(key=lambda w: w[0])  # stable: round-robin over senders
        per_user: dict[int, int] = defaultdict(int)
        kept = []
        for item in wanted:
            if global_cap is not None and len(kept) >= global_cap:
                break
            if user_cap is not None and per_user[item[1]] >= user_cap:
                continue
            per_user[item[1]] += 1
            kept.append(item)
        wanted = kept
    sends = [(s, r, k) for _, _, s, r, k in wanted]
    rng = random.Random(seed)
    rng.shuffle(sends)
    spacing = interval / max(1, len(sends))
    return [
        PlannedSend(s, r, k, round(i * spacing + rng.random() * spacing, 3)) for i, (s, r, k) in enumerate(sends)
    ]
