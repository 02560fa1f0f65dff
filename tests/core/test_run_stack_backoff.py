"""run_stack's restart backoff, with a real process that keeps dying."""

from __future__ import annotations

import sys

from apps.core.management.commands.run_stack import BACKOFF_MAX, STABLE_AFTER, Child


def _died(child: Child, now: float) -> str:
    child.proc.wait(timeout=10)
    message = child.check(now)
    assert message is not None
    return message


def test_a_dying_process_restarts_after_a_doubling_backoff_reset_once_it_ran_a_minute():
    child = Child("crashy", [sys.executable, "-c", "raise SystemExit(3)"], env={})
    child.start()
    child.started_at = 0.0
    assert _died(child, 0.0) == "crashy exited with 3; restarting in 1 s"
    assert child.check(0.5) is None and child.restart_at == 1.0  # not yet
    child.check(1.0)  # started again
    child.started_at = 1.0
    assert _died(child, 1.5).endswith("restarting in 2 s")
    for _ in range(10):
        now = child.restart_at
        child.check(now)
        child.started_at = now
        _died(child, now)
    assert child.restart_at - now == BACKOFF_MAX
    now = child.restart_at
    child.check(now)
    child.started_at = now
    assert _died(child, now + STABLE_AFTER).endswith("restarting in 1 s")
