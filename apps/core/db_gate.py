"""Fail fast while PostgreSQL is unreachable: one request per process finds out, the rest answer at once.

A database that stopped answering (a stopped process, a black-holed network) holds every
request for the 5 s connect timeout.  Shippers retry, so without a gate every thread of the
ingest server sits in a connect most of the time, and anything queued behind them (the
``/health/live`` probe included) waits too.  With it, after the first connection failure the
process answers 503 at once for ``retry_after`` seconds; then a single request (the trial) tries
again while the others keep answering 503, and its success opens the gate for all.

Per process and in memory, like ``request_metrics``' pause after a Redis failure: each gunicorn
worker finds out on its own, which costs one slow request per worker per outage interval.

Why not pybreaker: its ``CircuitBreaker.call`` holds one lock around the protected call, so a
threaded server would serve one ingest request at a time per process even while the database
is fine; circuitbreaker (fabfuel) lets every concurrent request through in the half-open state,
which is the herd this exists to stop.  The states here are two fields and a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

# SQLSTATEs that mean "no usable connection" (class 08, shutdowns, too many connections);
# a failure without one comes from the client library (refused, timed out, connection lost).
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


class DatabaseUnavailable(Exception):
    """The gate is closed: a recent request of this process could not reach PostgreSQL."""

    def __init__(self, retry_after: float):
        super().__init__(f"database unavailable; trying again in {retry_after:.1f} s")
        self.retry_after = retry_after


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (not that a statement failed)."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES


class DatabaseGate:
    """Open while the database answers; closed for ``retry_after`` seconds after it did not."""

    def __init__(self, name: str, clock=time.monotonic):
        self.name = name
        self._clock = clock
        self._closed_until = 0.0  # 0: open
        self._trial = threading.Lock()

    @property
    def is_open(self) -> bool:
        return not self._closed_until

    @contextmanager
    def passage(self, retry_after: float) -> Iterator[None]:
        """Run the block against the database, or raise :class:`DatabaseUnavailable` at once.

        A connection failure inside the block closes the gate for ``retry_after`` seconds (and
        propagates: the caller answers it like any database error); other errors pass through.
        """
        closed_until = self._closed_until
        trial = False
        if closed_until:
            wait = closed_until - self._clock()
            if wait > 0:
                raise DatabaseUnavailable(wait)
            if not self._trial.acquire(blocking=False):  # another request is finding out
                raise DatabaseUnavailable(0.0)
            trial = True
        try:
            yield
        except DatabaseError as exc:
            if is_unavailable(exc):
                self._close(retry_after)
            raise
        else:
            if trial:
                log.warning("%s: database reachable again", self.name)
                self._closed_until = 0.0
        finally:
            if trial:
                self._trial.release()

    def _close(self, retry_after: float) -> None:
        if not self._closed_until:
            log.warning("%s: database unreachable; answering 503 for %.0f s between tries", self.name, retry_after)
        self._closed_until = self._clock() + retry_after
