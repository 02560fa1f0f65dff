"""The typed environment parsers refuse bad and out-of-range values, naming the variable."""

from __future__ import annotations

import pytest

from mailmon.env import ConfigError, envfloat, envint


def test_an_integer_in_range_is_read(monkeypatch):
    monkeypatch.setenv("MM_N", "7")
    assert envint("MM_N", 1, minimum=1, maximum=10) == 7
    monkeypatch.delenv("MM_N")
    assert envint("MM_N", 3, minimum=1, maximum=10) == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "MM_N: must be between 1 and 10, got 0"), ("11", "MM_N: must be between 1 and 10, got 11"),
     ("ten", "MM_N: expected an integer, got 'ten'")],
)  # fmt: skip
def test_an_integer_out_of_range_is_refused(monkeypatch, value, message):
    monkeypatch.setenv("MM_N", value)
    with pytest.raises(ConfigError) as error:
        envint("MM_N", 1, minimum=1, maximum=10)
    assert str(error.value) == message


def test_one_sided_limits_say_which_side(monkeypatch):
    monkeypatch.setenv("MM_N", "-1")
    with pytest.raises(ConfigError, match=r"^MM_N: must be >= 0, got -1$"):
        envint("MM_N", 1, minimum=0)
    monkeypatch.setenv("MM_N", "99")
    with pytest.raises(ConfigError, match=r"^MM_N: must be <= 50, got 99$"):
        envint("MM_N", 1, maximum=50)


@pytest.mark.parametrize(
    ("value", "message"),
    [("-0.5", "MM_F: must be between 0 and 60, got -0.5"), ("61", "MM_F: must be between 0 and 60, got 61"),
     ("nan", "MM_F: expected a finite number, got 'nan'"), ("inf", "MM_F: expected a finite number, got 'inf'"),
     ("soon", "MM_F: expected a number, got 'soon'")],
)  # fmt: skip
def test_a_number_out_of_range_is_refused(monkeypatch, value, message):
    monkeypatch.setenv("MM_F", value)
    with pytest.raises(ConfigError) as error:
        envfloat("MM_F", 1.0, minimum=0, maximum=60)
    assert str(error.value) == message


def test_settings_refuse_an_out_of_range_number_at_startup():
    from tests.core.test_settings import manage

    result = manage("check", MAILMON_HEARTBEAT_MAX_AGE="0")
    assert result.returncode != 0
    assert "MAILMON_HEARTBEAT_MAX_AGE: must be between 1 and 86400, got 0" in result.stderr
