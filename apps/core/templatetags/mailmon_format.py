"""Number, percentage, duration and time formats every page uses (docs/ui.md).

``{% load mailmon_format %}`` then ``{{ n|num }}`` → "1,488", ``{{ 15.678|pct }}`` → "15.7 %",
``{{ ratio|pct:"rate" }}`` (a 0–1 ratio) → "15.7 %", ``{{ ms|dur }}`` → "1.2 s",
``{{ when|ago }}`` → "12 s ago", ``{{ size|bytes }}`` → "2.0 KiB". Missing values show "—".
"""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

register = template.Library()
MISSING = "—"


def _number(value) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@register.filter
def num(value, decimals: int = 0) -> str:
    """Thousands separators (comma), ``decimals`` places: 1488 → "1,488", (1234.5, 1) → "1,234.5"."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{number:,.{int(decimals)}f}"


@register.filter
def pct(value, kind: str = "") -> str:
    """One decimal and a unit: 15.678 → "15.7 %"; with ``"rate"`` the value is a 0–1 ratio."""
    number = _number(value)
    if number is None:
        return MISSING
    if kind == "rate":
        number *= 100
    return f"{number:,.1f} %"


@register.filter
def dur(ms) -> str:
    """Milliseconds in the unit that reads best: 850 → "850 ms", 1234 → "1.2 s", 416053 → "6.9 min"."""
    number = _number(ms)
    if number is None:
        return MISSING
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if number >= size:
            return f"{number / size:,.1f} {unit}"
    return f"{number:.0f} ms"


@register.filter
def ago(moment: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """"12 s ago", "5 min ago", "3 h ago", "2 d ago"; "in 5 s" for the future; never "0 minutes ago"."""
    if not isinstance(moment, dt.datetime):
        return MISSING
    seconds = int(((now or timezone.now()) - moment).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            text = f"{seconds // size:,} {unit}"
            break
    else:
        text = f"{seconds} s"
    return f"in {text}" if future else f"{text} ago"


@register.filter(name="bytes")
def bytes_(value) -> str:
    """Binary units: 2048 → "2.0 KiB", 512 → "512 B"."""
    number = _number(value)
    if number is None:
        return MISSING
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if number >= size:
            return f"{number / size:,.1f} {unit}"
    return f"{number:,.0f} B"
