"""The time-range picker of the email pages: query string ⇄ (TimeRange, EventFilters).

Range and filters are parsed by ``time_range.py`` (the same parser as the API); this
module only adds what a browser form needs: a "custom" choice, ``datetime-local``
inputs ("YYYY-MM-DD HH:MM", 24-hour, no offset, no seconds) read as UTC, and links that keep the picker state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import QueryDict

from .time_range import DEFAULT_RANGE, FILTER_FIELDS, EventFilters, TimeRange, parse_filters

CUSTOM = "custom"
# What the picker's text inputs show: 24-hour UTC everywhere (docs/ui.md). A browser's own
# datetime-local widget follows the OS locale (12-hour "01:32 PM" on many), so it is not used;
# "2026-11-20T08:00" (the old format, still in bookmarked URLs) is accepted as well.
INPUT_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class Picker:
    """The picker state of one request: what to query, and what the form shows."""

    time_range: TimeRange
    filters: EventFilters
    range: str  # a key of time_range.RANGES, or "custom"
    values: dict[str, str] = field(default_factory=dict)  # the query string state, empty values dropped

    @property
    def is_live(self) -> bool:
        """A relative range ends now, so live counters may keep adding to it."""
        return self.range != CUSTOM

    @property
    def from_input(self) -> str:
        return self.time_range.start.astimezone(UTC).strftime(INPUT_FORMAT)

    @property
    def to_input(self) -> str:
        return self.time_range.end.astimezone(UTC).strftime(INPUT_FORMAT)

    def query(self, **extra: str | int | list[str] | None) -> str:
        """The picker state plus ``extra`` as a query string (empty values are dropped)."""
        merged = {**self.values, **extra}
        return urlencode({k: v for k, v in merged.items() if v not in (None, "", [])}, doseq=True)


def _as_rfc3339(value: str | None) -> str | None:
    """Picker values carry no offset: read them as UTC. Anything else passes through."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # TimeRange.parse names the field in its error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def picker_from_query(query: QueryDict, *, now: datetime | None = None) -> Picker:
    """Read ``range``/``from``/``to`` and the filters; raises ValidationError naming the field."""
    chosen = query.get("range", "").strip()
    start, end = query.get("from", "").strip(), query.get("to", "").strip()
    if not chosen:
        chosen = CUSTOM if (start or end) else DEFAULT_RANGE
    if chosen == CUSTOM:
        if not start:  # an empty "to" means now (TimeRange.parse)
            raise ValidationError({"from": "from: required for a custom range."})
        time_range = TimeRange.parse(range=None, start=_as_rfc3339(start), end=_as_rfc3339(end), now=now)
    else:
        time_range = TimeRange.parse(range=chosen, start=None, end=None, now=now)
    filters = parse_filters(query)
    values = {"range": chosen}
    if chosen == CUSTOM:
        values |= {"from": start, "to": end}
    values |= {name: query.get(name, "").strip() for name in FILTER_FIELDS}
    return Picker(time_range=time_range, filters=filters, range=chosen, values=values)


def error_messages(exc: ValidationError) -> dict[str, list[str]]:
    """ValidationError → {field: [messages]}, whether or not it was raised with a dict."""
    if hasattr(exc, "error_dict"):
        return {name: [str(m) for e in errors for m in e.messages] for name, errors in exc.error_dict.items()}
    return {"range": list(exc.messages)}
