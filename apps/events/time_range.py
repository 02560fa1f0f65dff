"""What an email-flow question is about: a time range and event filters, parsed once.

The API (``api.py``), the pages (``range_picker.py``) and the event search all read
``range``/``from``/``to`` with :meth:`TimeRange.parse` and ``node``/``ip``/``pool``/
``from_domain``/``to_domain`` with :func:`parse_filters`, so a parameter means the same
everywhere and every error names its field (``{"node": "node: no node 'mx9'."}``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from apps.nodes.models import Node
from apps.pools.models import IpPool

from .choices import BounceCategory, EventType
from .models.rollups import ORIGIN, STEPS

# The preset ranges, each ending now: the one definition the API, the pages and the docs use.
RANGES: dict[str, dt.timedelta] = {
    "1h": dt.timedelta(hours=1),
    "6h": dt.timedelta(hours=6),
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
}
DEFAULT_RANGE = "24h"
MAX_SPAN = dt.timedelta(days=400)
FILTER_FIELDS = ("node", "ip", "pool", "from_domain", "to_domain")
MAX_NAME = 255


RANGE_CHOICES = [(key, f"{key[:-1]} {key[-1]}") for key in RANGES]  # ("24h", "24 h"): API enum, picker buttons


def parse_moment(value: str, field: str) -> dt.datetime:
    text = value.strip()
    if text[-1:] in {"z", "Z"}:
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError({field: f"{field}: {value!r} is not an RFC 3339 date-time."}) from None
    if moment.tzinfo is None:
        raise ValidationError({field: f"{field}: {value!r} needs a UTC offset (e.g. Z or +00:00)."})
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC equivalent
        raise ValidationError({field: f"{field}: {value!r} is out of range."}) from None


@dataclass(frozen=True)
class TimeRange:
    """A half-open interval [start, end) in aware UTC."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def parse(
        cls, *, range: str | None, start: str | None, end: str | None, now: dt.datetime | None = None
    ) -> TimeRange:
        """A preset ``range`` (ending now) or a custom ``start``/``end``; errors name the field."""
        now = (now or timezone.now()).astimezone(dt.UTC)
        if start or end:
            if range:
                raise ValidationError({"range": "range: give either range or from/to, not both."})
            if not start:
                raise ValidationError({"from": "from: required with to."})
            first = parse_moment(start, "from")
            last = parse_moment(end, "to") if end else now
            if last <= first:
                raise ValidationError({"to": "to: must be after from."})
            if last - first > MAX_SPAN:
                raise ValidationError({"from": f"from: ranges longer than {MAX_SPAN.days} days are not served."})
            return cls(start=first, end=last)
        chosen = range or DEFAULT_RANGE
        if chosen not in RANGES:
            raise ValidationError({"range": f"range: expected one of {', '.join(RANGES)}, got {chosen!r}."})
        return cls(start=now - RANGES[chosen], end=now)

    @property
    def resolution(self) -> str:
        span = self.end - self.start
        if span < dt.timedelta(hours=6):
            return "5m"
        return "1h" if span <= dt.timedelta(days=7) else "1d"

    @property
    def step(self) -> dt.timedelta:
        return STEPS[self.resolution]

    def snapped(self) -> TimeRange:
        """Widened to whole buckets of the resolution: what the rollups can answer exactly."""
        step = self.step
        start = ORIGIN + ((self.start - ORIGIN) // step) * step
        end = ORIGIN + -((ORIGIN - self.end) // step) * step
        return TimeRange(start=start, end=end)

    def buckets(self) -> list[dt.datetime]:
        step = self.step
        snapped = self.snapped()
        count = (snapped.end - snapped.start) // step
        return [snapped.start + i * step for i in range(count)]


@dataclass(frozen=True)
class EventFilters:
    """Which events a question is about; None means any. Domains are matched lower-cased."""

    node: int | None = None
    ip: str | None = None
    pool: int | None = None
    from_domain: str | None = None
    to_domain: str | None = None


def _text(values: Mapping[str, str | None], name: str) -> str:
    raw = (values.get(name) or "").strip()
    if len(raw) > MAX_NAME or any(not c.isprintable() for c in raw):
        raise ValidationError({name: f"{name}: {raw[:40]!r} is not a valid value."})
    return raw


def _lookup(model: type[models.Model], name_field: str, values: Mapping[str, str | None], name: str) -> int | None:
    """An id given as digits or by name; unknown ones are an error naming the field."""
    raw = _text(values, name)
    if not raw:
        return None
    found = model.objects.filter(**({"pk": int(raw)} if raw.isascii() and raw.isdigit() else {name_field: raw}))
    pk = found.values_list("pk", flat=True).first()
    if pk is None:
        raise ValidationError({name: f"{name}: no {model._meta.verbose_name} {raw!r}."})
    return pk


def _ip(values: Mapping[str, str | None]) -> str | None:
    raw = _text(values, "ip")
    if not raw:
        return None
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        address = None
    if address is None or "%" in raw:  # a zone id (fe80::1%eth0) is no sending address
        raise ValidationError({"ip": f"ip: {raw!r} is not an IPv4 or IPv6 address."})
    return str(address)


def _domain(values: Mapping[str, str | None], name: str) -> str | None:
    raw = _text(values, name).lower().lstrip("@")
    if not raw:
        return None
    if any(c.isspace() or c in "/@?#" for c in raw):
        raise ValidationError({name: f"{name}: {raw!r} is not a domain name."})
    return raw


def parse_filters(values: Mapping[str, str | None]) -> EventFilters:
    """``node``/``pool`` by id or name, ``ip``, ``from_domain``/``to_domain``; empty means any.

    Raises ValidationError naming the field. Reads the database only to resolve a
    node or pool that was given.
    """
    return EventFilters(
        node=_lookup(Node, "hostname", values, "node"),
        ip=_ip(values),
        pool=_lookup(IpPool, "name", values, "pool"),
        from_domain=_domain(values, "from_domain"),
        to_domain=_domain(values, "to_domain"),
    )


# --- Event search: the one box (q), the code filter, types/category and the keyset cursor ---

SEARCH_KINDS = ("ip", "message_id", "address", "domain", "token", "text")
MIN_TEXT = 3  # trigram search needs three characters
MAX_Q = 998  # the longest Message-ID the ingest API accepts
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_DOMAIN = re.compile(r"^(?=.{1,255}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z]{2,63}$")
_TOKEN = re.compile(r"^[A-Za-z0-9._+=-]{1,128}$")
_BASIC_CODE = re.compile(r"^[2-5]\d\d$")
_ENHANCED_CODE = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


@dataclass(frozen=True)
class SearchTerm:
    """What ``q`` was read as: the kind picks the index (see ``selectors_search``).

    ``token`` is a word that is neither an address nor a domain: a queue id or a local part.
    """

    kind: str
    value: str


def classify_q(raw: str) -> SearchTerm | None:
    """An IP, a message-id ``<…@…>``, an address, a domain, a queue id / local part, else text."""
    text = raw.strip()
    if not text:
        return None
    if len(text) > MAX_Q or any(not c.isprintable() for c in text):
        raise ValidationError({"q": f"q: at most {MAX_Q} printable characters."})
    if text.startswith("<") and text.endswith(">") and "@" in text:
        return SearchTerm("message_id", text[1:-1].strip())
    try:
        if "%" not in text:
            return SearchTerm("ip", str(ipaddress.ip_address(text)))
    except ValueError:
        pass
    if _ADDRESS.match(text):
        return SearchTerm("address", text.lower())
    lowered = text.lower().lstrip("@")
    if _DOMAIN.match(lowered):
        return SearchTerm("domain", lowered)
    if text.endswith("@") and _TOKEN.match(text[:-1]):
        return SearchTerm("token", text[:-1])
    if _TOKEN.match(text) and ("." not in text or not text[-1].isalpha()):  # Haraka queue ids end ".1"
        return SearchTerm("token", text)
    if len(text) < MIN_TEXT:
        raise ValidationError({"q": f"q: text searches need at least {MIN_TEXT} characters."})
    return SearchTerm("text", text)


@dataclass(frozen=True)
class StatusFilter:
    """``code=550``, ``code=5.7.1`` or both (``code=550 5.7.1``): each part must match exactly."""

    basic: int | None = None
    enhanced: str | None = None

    def __str__(self) -> str:
        return " ".join(str(part) for part in (self.basic, self.enhanced) if part)


def parse_code(raw: str | None) -> StatusFilter | None:
    parts = (raw or "").replace("+", " ").split()
    if not parts:
        return None
    basic = [p for p in parts if _BASIC_CODE.match(p)]
    enhanced = [p for p in parts if _ENHANCED_CODE.match(p)]
    if len(basic) + len(enhanced) != len(parts) or len(basic) > 1 or len(enhanced) > 1:
        raise ValidationError({"code": f"code: expected an SMTP code (550), an enhanced status (5.7.1) or both, "
                                       f"got {(raw or '')[:40]!r}."})
    return StatusFilter(basic=int(basic[0]) if basic else None, enhanced=enhanced[0] if enhanced else None)


@dataclass(frozen=True)
class EventCriteria:
    """What the event list is filtered on besides range and ``EventFilters``."""

    term: SearchTerm | None = None
    types: tuple[str, ...] = ()
    category: str | None = None
    code: StatusFilter | None = None


def parse_criteria(values: Mapping[str, str | None], types: list[str] | None = None) -> EventCriteria:
    """``q``, ``type`` (repeatable), ``category`` and ``code``; errors name the field."""
    chosen = tuple(t.strip() for t in (types or []) if t and t.strip())
    if unknown := [t for t in chosen if t not in EventType.values]:
        raise ValidationError({"type": f"type: unknown event type {unknown[0][:40]!r}."})
    category = (values.get("category") or "").strip() or None
    if category and category not in BounceCategory.values:
        raise ValidationError({"category": f"category: unknown bounce category {category[:40]!r}."})
    return EventCriteria(term=classify_q(values.get("q") or ""), types=chosen, category=category,
                         code=parse_code(values.get("code")))


@dataclass(frozen=True)
class Cursor:
    """Where the previous page stopped: keyset (time, id), newest first, and how q was read."""

    time: dt.datetime
    id: int
    kind: str | None = None

    def encode(self) -> str:
        payload = json.dumps([self.time.isoformat(), self.id, self.kind], separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def parse_cursor(raw: str | None) -> Cursor | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        moment, pk, kind = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        cursor = Cursor(time=dt.datetime.fromisoformat(moment).astimezone(dt.UTC), id=int(pk), kind=kind)
        if kind is not None and kind not in SEARCH_KINDS:
            raise ValueError(kind)
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error, OverflowError):
        raise ValidationError({"cursor": "cursor: not a cursor this server handed out; start from the first page."})\
            from None
    return cursor
