"""Planning: pace, catch-up without bursts, recipients (never self, spread, no repeats), stagger."""

from __future__ import annotations

from collections import Counter
from datetime import date

from apps.warmup.planner import Sender, build_ring, due_by, plan_cycle, quota, sends_this_cycle

DAY = date(2026, 12, 1)
INTERVAL = 900


def ring_of(n: int, providers=("gmail", "microsoft", "yahoo")):
    return build_ring([(i, providers[i % len(providers)]) for i in range(1, n + 1)], DAY)


def test_quota_is_the_target_at_least_and_the_ramp_up_to_its_ceiling():
    assert quota(30, 10, 5, 80, 0) == 30
    assert quota(30, 30, 5, 80, 4) == 50
    assert quota(30, 30, 5, 80, 100) == 80


def test_the_pace_reaches_the_quota_by_the_last_cycle_of_the_day():
    assert due_by(30, 0, INTERVAL) == 1
    assert due_by(30, 12 * 3600 - INTERVAL, INTERVAL) == 15
    assert due_by(30, 86400 - INTERVAL, INTERVAL) == 30


def test_mailboxes_send_at_different_moments_so_the_fleet_sends_evenly():
    assert due_by(30, 0, INTERVAL, phase=0.9) == 0  # this one's first send comes a few cycles later
    assert due_by(30, 86400 - INTERVAL, INTERVAL, phase=0.9) == 30
    first_cycle = sum(sends_this_cycle(Sender(i, 1, 30, 0, 0, 0), 0, INTERVAL, 2.0) > 0 for i in range(1, 1001))
    assert 250 <= first_cycle <= 370  # ~31 % of 1,000 mailboxes, not all of them


def test_a_missed_cycle_is_caught_up_at_most_at_twice_the_pace():
    on_pace = sends_this_cycle(Sender(1, 1, 96 * 3, 0, 0, 0), 0, INTERVAL, max_catchup=2.0)
    assert on_pace == 3
    # Six hours missed: 72 sends are due, but this cycle sends only twice one cycle's share.
    behind = Sender(1, 1, 96 * 3, 0, 0, 0)
    assert sends_this_cycle(behind, 6 * 3600, INTERVAL, max_catchup=2.0) == 6


def test_failed_sends_are_replaced_and_nothing_is_sent_when_on_pace():
    assert sends_this_cycle(Sender(1, 1, 30, 15, 0, 15), 12 * 3600 - INTERVAL, INTERVAL, 2.0) == 0
    assert sends_this_cycle(Sender(1, 1, 30, 15, 1, 15), 12 * 3600 - INTERVAL, INTERVAL, 2.0) == 1


def test_a_sender_never_writes_to_itself_nor_twice_to_the_same_mailbox_in_a_day():
    ring = ring_of(40)
    recipients = [ring.recipient(7, k) for k in range(39)]
    assert 7 not in recipients
    assert len(set(recipients)) == 39
    assert ring.recipient(7, 39) is None  # everyone had one: no repeat


def test_consecutive_recipients_alternate_providers():
    ring = ring_of(30)
    provider = {i: ("gmail", "microsoft", "yahoo")[i % 3] for i in range(1, 31)}
    picks = [provider[ring.recipient(1, k)] for k in range(12)]
    assert all(a != b for a, b in zip(picks, picks[1:], strict=False))
    assert set(Counter(picks).values()) == {4}


def test_a_cycle_spreads_its_sends_over_the_interval():
    senders = [Sender(i, i % 2, 96 * 2, 0, 0, 0) for i in range(1, 51)]
    sends = plan_cycle(senders, ring_of(50), seconds_into_day=0, interval=INTERVAL, max_catchup=2.0, seed=1)
    assert len(sends) == 100
    offsets = sorted(s.offset for s in sends)
    assert offsets[0] < 20 and offsets[-1] > INTERVAL - 20 and offsets[-1] <= INTERVAL
    per_minute = Counter(int(o // 60) for o in offsets)
    assert max(per_minute.values()) <= 8  # ~6.7 a minute: no burst
    assert all(s.sender != s.recipient for s in sends)


def test_a_cycle_plans_no_more_than_the_limits_let_through_round_robin():
    senders = [Sender(i, i % 2, 96 * 4, 0, 0, 0) for i in range(1, 51)]  # 4 sends each wanted
    capped = plan_cycle(senders, ring_of(50), seconds_into_day=0, interval=INTERVAL, max_catchup=2.0,
                        global_cap=60, user_cap=40, seed=1)
    assert len(capped) == 60
    per_sender = Counter(s.sender for s in capped)
    assert set(per_sender) == set(range(1, 51))  # everyone's first send before anyone's second
    per_user = Counter(s.sender % 2 for s in capped)
    assert max(per_user.values()) <= 40
