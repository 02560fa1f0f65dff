"""Page conventions (docs/ui.md): the mailmon_format filters every template uses."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template import Context, Template

from apps.core.templatetags.mailmon_format import ago, bytes_, dur, num, pct

NOW = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("value", "expected"), [(1488, "1,488"), (874, "874"), (1234567, "1,234,567"), (0, "0"),
                                                 (None, "—"), ("", "—"), ("x", "—")])
def test_num_separates_thousands(value, expected):
    assert num(value) == expected


def test_num_with_decimals():
    assert num(1234.56, 1) == "1,234.6"


@pytest.mark.parametrize(("value", "kind", "expected"), [(15.678, "", "15.7 %"), (0.15678, "rate", "15.7 %"),
                                                         (100, "", "100.0 %"), (None, "", "—")])
def test_pct_has_one_decimal_and_a_unit(value, kind, expected):
    assert pct(value, kind) == expected


@pytest.mark.parametrize(("seconds", "expected"), [(0, "0 s ago"), (12, "12 s ago"), (59, "59 s ago"),
                                                   (60, "1 min ago"), (3 * 3600 + 5, "3 h ago"),
                                                   (2 * 86400, "2 d ago"), (-5, "in 5 s")])
def test_ago_says_seconds_not_zero_minutes(seconds, expected):
    assert ago(NOW - dt.timedelta(seconds=seconds), now=NOW) == expected


@pytest.mark.parametrize(("ms", "expected"), [(850, "850 ms"), (1234, "1.2 s"), (416053, "6.9 min"),
                                              (7_200_000, "2.0 h"), (None, "—")])
def test_dur_picks_the_unit(ms, expected):
    assert dur(ms) == expected


def test_bytes_in_binary_units():
    assert (bytes_(512), bytes_(2048), bytes_(5 * 1024**3)) == ("512 B", "2.0 KiB", "5.0 GiB")


def test_filters_load_in_templates():
    html = Template("{% load mailmon_format %}{{ n|num }} {{ r|pct:'rate' }}").render(Context({"n": 15000, "r": 0.5}))
    assert html == "15,000 50.0 %"
