"""apps.core.db_gate: a connection failure closes the gate; one trial at a time reopens it."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from apps.core.db_gate import DatabaseGate, DatabaseUnavailable, is_unavailable
from tests.core import processes

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def refused() -> OperationalError:
    """What Django raises when PostgreSQL refuses the connection (a real attempt on a closed port).
    A copy of the connection, not ``database_refused``: that one needs a transactional test."""
    closed = connections["default"].copy()
    closed.settings_dict["PORT"] = processes.free_port()
    with pytest.raises(OperationalError) as info:
        closed.ensure_connection()
    return info.value


def _cancelled_statement() -> None:
    """Run a statement PostgreSQL cancels: the database answered, it is reachable."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")


def _fail(gate: DatabaseGate, exc: BaseException) -> None:
    with pytest.raises(type(exc)), gate.passage(5):
        raise exc


def test_a_refused_connection_is_unavailability_and_a_cancelled_statement_is_not(refused):
    assert is_unavailable(refused)
    with pytest.raises(OperationalError) as cancelled:
        _cancelled_statement()
    assert not is_unavailable(cancelled.value)
    assert not is_unavailable(ValueError("not a database error"))


def test_statement_errors_pass_through_and_leave_the_gate_open():
    gate = DatabaseGate("test")
    with pytest.raises(OperationalError), gate.passage(5):
        _cancelled_statement()
    assert gate.is_open
    with gate.passage(5), connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def test_after_a_connection_failure_requests_are_refused_at_once_until_retry_after(refused):
    clock = Clock()
    gate = DatabaseGate("test", clock=clock)
    _fail(gate, refused)
    assert not gate.is_open
    clock.now += 4.5
    with pytest.raises(DatabaseUnavailable) as info, gate.passage(5):
        pytest.fail("the block ran while the gate was closed")
    assert info.value.retry_after == pytest.approx(0.5)


def test_one_trial_at_a_time_and_its_success_opens_the_gate(refused):
    clock = Clock()
    gate = DatabaseGate("test", clock=clock)
    _fail(gate, refused)
    clock.now += 5
    others: list[str] = []

    def another_request() -> None:
        try:
            with gate.passage(5):
                others.append("ran")
        except DatabaseUnavailable:
            others.append("refused")

    with gate.passage(5):  # the trial
        thread = threading.Thread(target=another_request)
        thread.start()
        thread.join()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    assert others == ["refused"]
    assert gate.is_open
    another_request()
    assert others == ["refused", "ran"]


def test_a_failed_trial_closes_the_gate_again(refused):
    clock = Clock()
    gate = DatabaseGate("test", clock=clock)
    _fail(gate, refused)
    clock.now += 5
    _fail(gate, refused)
    with pytest.raises(DatabaseUnavailable), gate.passage(5):
        pass
    clock.now += 5
    with gate.passage(5):  # the trial lock was released: the next one may try
        pass
    assert gate.is_open


def test_a_trial_that_ends_in_another_error_leaves_the_next_request_to_try(refused):
    clock = Clock()
    gate = DatabaseGate("test", clock=clock)
    _fail(gate, refused)
    clock.now += 5
    _fail(gate, ValueError("the request was bad"))
    assert not gate.is_open
    with gate.passage(5):
        pass
    assert gate.is_open
