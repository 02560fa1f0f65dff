"""Which sending IPs a question is about: parsed once for the IP page, the API and bulk actions.

``status``, ``ptr_status`` (the last PTR check: ok, mismatch, missing, error, unchecked),
``pool`` (an id, or ``none`` for IPs in no pool), ``node`` (an id), ``version``
(4 or 6) and ``q``: an address, a CIDR range (``198.51.100.0/25`` finds its members, with
PostgreSQL's ``<<=`` on the inet column) or text matched against the start of the address
and anywhere in the PTR. Every error names its field.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError

from .choices import IpStatus, PtrStatus

FILTER_FIELDS = ("status", "pool", "node", "version", "q", "ptr_status")
NO_POOL = "none"


@dataclass(frozen=True)
class IpFilters:
    status: str | None = None
    pool: int | str | None = None  # an id, or NO_POOL
    node: int | None = None
    version: int | None = None
    q: str | None = None
    ptr_status: str | None = None

    def as_params(self) -> dict[str, str]:
        """The filters as query parameters (only those set), for links and hidden form fields."""
        return {k: str(v) for k, v in asdict(self).items() if v not in (None, "")}

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        """``q`` as an address or CIDR range, or None when it is free text."""
        if not self.q:
            return None
        try:
            return ipaddress.ip_network(self.q, strict=False)
        except ValueError:
            return None


def _positive_id(field: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**63:
        raise ValidationError({field: f"{field}: expected an id (a positive integer), got {raw[:40]!r}."})
    return int(raw)


def parse_ip_filters(params: Mapping[str, object]) -> IpFilters:
    """Filters from query parameters or a JSON object; empty values mean "any"."""
    raw = {f: str(params.get(f) or "").strip() for f in FILTER_FIELDS}
    if raw["status"] and raw["status"] not in IpStatus.values:
        raise ValidationError({"status": f"status: expected one of {', '.join(IpStatus.values)}."})
    if raw["ptr_status"] and raw["ptr_status"] not in PtrStatus.values:
        raise ValidationError({"ptr_status": f"ptr_status: expected one of {', '.join(PtrStatus.values)}."})
    pool: int | str | None = None
    if raw["pool"]:
        pool = NO_POOL if raw["pool"] == NO_POOL else _positive_id("pool", raw["pool"])
    if raw["version"] and raw["version"] not in ("4", "6"):
        raise ValidationError({"version": "version: expected 4 or 6."})
    q = raw["q"] or None
    if q and len(q) > 255:
        raise ValidationError({"q": "q: at most 255 characters."})
    if q and "/" in q:
        try:
            ipaddress.ip_network(q, strict=False)
        except ValueError:
            raise ValidationError({"q": f"q: {q!r} is not a CIDR range (e.g. 198.51.100.0/25)."}) from None
    return IpFilters(
        status=raw["status"] or None,
        pool=pool,
        node=_positive_id("node", raw["node"]) if raw["node"] else None,
        version=int(raw["version"]) if raw["version"] else None,
        q=q,
        ptr_status=raw["ptr_status"] or None,
    )
