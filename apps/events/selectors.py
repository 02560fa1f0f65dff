"""The query layer of the email pages and API: every aggregate reads through here.

Resolution follows the range (``TimeRange.resolution``): under 6 h the 5-minute
rollups, up to 7 days the hourly ones, beyond that the daily ones. Ranges are widened
to whole buckets of that resolution (a rollup cannot split a bucket), so a "24 h"
question covers 24 or 25 whole hours; every answer says which ``resolution`` it used.

Each question reads the narrowest rollup cut holding its filters (``models/rollups.py``).
Filters that no cut holds together (node or IP or pool with a domain, sender with
recipient domain, and ``group_by`` columns outside the cut) read the raw events instead,
projected onto the same columns: same figures, but their cost grows with the events in
the range. The queue (node metrics) is ``apps.nodes.selectors.queue``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection

from apps.ips.models import SendingIP
from apps.nodes.models import Node

from .choices import BounceCategory
from .models.rollups import (
    COUNT_FIELDS,
    CUTS,
    GRAINS,
    HIST_BOUNDS_MS,
    HIST_FIELDS,
    ORIGIN_SQL,
    REASON_TYPES,
    SAMPLE_CHARS,
    event_source_sql,
    events_table,
    table_name,
    value_columns,
)
from .time_range import EventFilters, TimeRange

# Outcomes of a delivery attempt: the denominator of every rate.
SENT_TYPES: tuple[str, ...] = ("delivered", "bounced", "deferred", "rejected")


# --- Sources: the narrowest rollup cut that holds every column a question needs ---

_FILTER_COLUMNS = {
    "node": "node_id",
    "ip": "sending_ip",
    "pool": "sending_ip",
    "from_domain": "sender_domain",
    "to_domain": "recipient_domain",
}
GROUP_COLUMNS = {
    "type": None,
    "node": "node_id",
    "ip": "sending_ip",
    "from_domain": "sender_domain",
    "to_domain": "recipient_domain",
}
TOP_SERIES = 10
OTHER = "other"


def _needed_columns(filters: EventFilters, extra: str | None = None) -> set[str]:
    needed = {column for name, column in _FILTER_COLUMNS.items() if getattr(filters, name) is not None}
    return needed | ({extra} if extra else set())


def _cut_for(needed: set[str]) -> str | None:
    for cut, columns in CUTS.items():  # narrowest first
        if needed <= set(columns):
            return cut
    return None


def _raw_flow_sql(grain: str) -> str:
    """Raw events projected onto the flow rollup columns: one row per event."""
    delivered = "type = 'delivered'"
    values = [f"(type = '{t}')::int AS {c}" for t, c in COUNT_FIELDS.items()]
    values += [
        f"({delivered} AND delay_ms IS NOT NULL)::int AS delay_n",
        f"CASE WHEN {delivered} THEN coalesce(delay_ms, 0) ELSE 0 END AS delay_sum",
    ]
    values += [f"CASE WHEN {delivered} AND hb = {i} THEN 1 ELSE 0 END AS {h}" for i, h in enumerate(HIST_FIELDS)]
    return _raw_sql(grain, values)


def _raw_reason_sql(grain: str) -> str:
    values = ["type", "bounce_category", "status_code", "enhanced_status", "1 AS n"]
    values.append(f"left(response, {SAMPLE_CHARS}) AS sample_response")
    types = ", ".join(f"'{t}'" for t in REASON_TYPES)
    return _raw_sql(grain, values, where=f" AND type IN ({types})")


def _raw_sql(grain: str, values: list[str], where: str = "") -> str:
    source = event_source_sql(events_table(), f"WHERE time >= %s AND time < %s{where}")
    return (
        f"(SELECT date_bin('{GRAINS[grain]}', time, {ORIGIN_SQL}) AS bucket, node_id, sending_ip, "
        f"sender_domain, recipient_domain, {', '.join(values)} FROM ({source}) AS e)"
    )


@dataclass(frozen=True)
class _Source:
    """``FROM {relation} AS s WHERE {where}`` with its parameters, for one question."""

    relation: str
    where: str
    params: list
    resolution: str
    buckets: list[dt.datetime]
    raw: bool = False

    @property
    def from_where(self) -> str:
        return f"FROM {self.relation} AS s WHERE {self.where}"


def _source(family: str, time_range: TimeRange, filters: EventFilters, column: str | None = None) -> _Source:
    grain = time_range.resolution
    span = time_range.snapped()
    cut = _cut_for(_needed_columns(filters, column))
    if cut is None:  # no cut holds this combination: the raw events, projected the same way
        relation = _raw_flow_sql(grain) if family == "flow" else _raw_reason_sql(grain)
        params: list = [span.start, span.end]
    else:
        relation, params = table_name(family, cut, grain), []
    where = ["s.bucket >= %s", "s.bucket < %s"]
    params += [span.start, span.end]
    for clause, value in _filter_clauses(filters):
        where.append(clause)
        params.append(value)
    return _Source(relation, " AND ".join(where), params, grain, time_range.buckets(), raw=cut is None)


def _filter_clauses(filters: EventFilters) -> list[tuple[str, object]]:
    clauses = []
    if filters.node is not None:
        clauses.append(("s.node_id = %s", filters.node))
    if filters.ip is not None:
        clauses.append(("s.sending_ip = %s::inet", filters.ip))
    if filters.pool is not None:
        pool_ips = f"SELECT address FROM {SendingIP._meta.db_table} WHERE pool_id = %s"
        clauses.append((f"s.sending_ip IN ({pool_ips})", filters.pool))
    if filters.from_domain is not None:
        clauses.append(("s.sender_domain = %s", filters.from_domain.lower()))
    if filters.to_domain is not None:
        clauses.append(("s.recipient_domain = %s", filters.to_domain.lower()))
    return clauses


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- Percentiles from the fixed histogram ---


def hist_percentile(counts: list[int], q: float) -> float | None:
    """The q-quantile (0 < q ≤ 1) of a histogram over HIST_BOUNDS_MS, by linear interpolation.

    The answer lies in the bucket that holds the true nearest-rank quantile, so its error is
    at most that bucket's width: under 2× of the value (bounds grow by ≤ 2× per bucket)
    and never more than 100 ms below 100 ms. Past the last bound (1 h) it answers 1 h.
    """
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i == len(HIST_BOUNDS_MS):
                return float(HIST_BOUNDS_MS[-1])
            lower = HIST_BOUNDS_MS[i - 1] if i else 0
            return lower + (HIST_BOUNDS_MS[i] - lower) * (rank - seen) / count
        seen += count
    return float(HIST_BOUNDS_MS[-1])


def _delivery_time(delay_n: int, delay_sum: int, hist: list[int]) -> dict[str, float | None]:
    return {
        "avg": delay_sum / delay_n if delay_n else None,
        "p50": hist_percentile(hist, 0.50),
        "p95": hist_percentile(hist, 0.95),
        "p99": hist_percentile(hist, 0.99),
    }


def _duration_label(ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms / size:g} {unit}"
    return f"{ms} ms"


HIST_LABELS: list[str] = [f"≤ {_duration_label(b)}" for b in HIST_BOUNDS_MS] + [
    f"> {_duration_label(HIST_BOUNDS_MS[-1])}"
]


# --- The questions ---

_TOTAL_SQL = " + ".join(f"s.{c}" for c in COUNT_FIELDS.values())
_SUMS_SQL = ", ".join(f"coalesce(sum(s.{c}), 0)" for c in value_columns("flow"))


def _sent(counts: dict[str, int]) -> int:
    return sum(counts[t] for t in SENT_TYPES)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def throughput(*, time_range: TimeRange, filters: EventFilters, group_by: str = "type") -> dict:
    """Events per bucket, one series per event type or per top-10 node / IP / domain (+ "other")."""
    if group_by not in GROUP_COLUMNS:
        raise ValidationError({"group_by": f"group_by: expected one of {', '.join(GROUP_COLUMNS)}, got {group_by!r}."})
    column = GROUP_COLUMNS[group_by]
    source = _source("flow", time_range, filters, column)
    index = {bucket: i for i, bucket in enumerate(source.buckets)}
    series: dict[str, list[int]] = {}
    if column is None:
        sums = ", ".join(f"sum(s.{c})" for c in COUNT_FIELDS.values())
        rows = _fetch(f"SELECT s.bucket, {sums} {source.from_where} GROUP BY 1", source.params)
        series = {t: [0] * len(index) for t in COUNT_FIELDS}
        for bucket, *counts in rows:
            for t, n in zip(COUNT_FIELDS, counts, strict=True):
                series[t][index[bucket]] = int(n)
    else:
        series = _top_series(source, column, time_range, filters, index)
    return {"resolution": source.resolution, "buckets": [b.isoformat() for b in source.buckets], "series": series}


_KEY_SQL = {  # group keys as text ('' for none)
    "node_id": "s.node_id::text",
    "sending_ip": "coalesce(host(s.sending_ip), '')",
    "sender_domain": "s.sender_domain",
    "recipient_domain": "s.recipient_domain",
}


def _top_series(
    source: _Source, column: str, time_range: TimeRange, filters: EventFilters, index: dict
) -> dict[str, list[int]]:
    """The top keys' series plus "other" (the rest of each bucket), in one statement.

    From a rollup: rank the keys, read only the top ones' rows, and take "other" as the
    ungrouped total (its own, narrower rollup) minus theirs; carrying thousands of
    recipient domains through every bucket would cost several times more. From raw
    events: one pass grouping by bucket and key, since every raw row has to be read anyway
    (picking the top keys' rows again would walk an index over most of the range).
    """
    key = _KEY_SQL[column]
    hostname = f"(SELECT hostname FROM {Node._meta.db_table} WHERE id::text = x.k)"
    label = f"coalesce({hostname}, x.k)" if column == "node_id" else "x.k"
    if source.raw:
        sql = (
            f"WITH agg AS MATERIALIZED (SELECT s.bucket, {key} AS k, sum({_TOTAL_SQL}) AS n {source.from_where} "
            "GROUP BY 1, 2), ranked AS MATERIALIZED (SELECT k, row_number() OVER (ORDER BY sum(n) DESC, k) AS r "
            f"FROM agg GROUP BY k) SELECT x.bucket, {label}, x.n, x.top FROM (SELECT a.bucket, "
            f"CASE WHEN r.r <= {TOP_SERIES} THEN a.k END AS k, sum(a.n) AS n, r.r <= {TOP_SERIES} AS top "
            "FROM agg AS a JOIN ranked AS r USING (k) GROUP BY 1, 2, 4) AS x"
        )
        params = source.params
    else:
        totals = _source("flow", time_range, filters)
        sql = (
            f"WITH top AS MATERIALIZED (SELECT {key} AS k, sum({_TOTAL_SQL}) AS n {source.from_where} "
            f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {TOP_SERIES + 1}), "
            f"chosen AS (SELECT k FROM top ORDER BY n DESC, k LIMIT {TOP_SERIES}) "
            f"SELECT x.bucket, {label}, x.n, x.top FROM ("
            f"SELECT s.bucket, {key} AS k, sum({_TOTAL_SQL}) AS n, true AS top {source.from_where} "
            f"AND {key} IN (SELECT k FROM chosen) GROUP BY 1, 2 "
            f"UNION ALL SELECT s.bucket, NULL, sum({_TOTAL_SQL}), false {totals.from_where} "
            f"AND (SELECT count(*) FROM top) > {TOP_SERIES} GROUP BY 1) AS x"
        )
        params = [*source.params, *source.params, *totals.params]
    series: dict[str, list[int]] = {}
    other: list[int] | None = None
    for bucket, k, n, is_top in _fetch(sql, params):
        if is_top:
            series.setdefault(_key_name(k), [0] * len(index))[index[bucket]] = int(n)
        else:
            other = other or [0] * len(index)
            other[index[bucket]] = int(n)
    if other is not None and not source.raw:  # a rollup's "other" came as the whole bucket
        shown = [sum(values) for values in zip(*series.values(), strict=True)] or [0] * len(index)
        other = [max(total - mine, 0) for total, mine in zip(other, shown, strict=True)]
    if other is not None:
        series[OTHER] = other
    return series


def _key_name(key) -> str:
    if key is None or key == "":
        return "(none)"
    return str(key)


def _unpack_sums(row) -> tuple[dict[str, int], int, int, list[int]]:
    """One row of ``_SUMS_SQL``: counts by type, delay_n, delay_sum and the histogram."""
    values = [int(v) for v in row]
    counts = dict(zip(COUNT_FIELDS, values[: len(COUNT_FIELDS)], strict=True))
    delay_n, delay_sum = values[len(COUNT_FIELDS)], values[len(COUNT_FIELDS) + 1]
    return counts, delay_n, delay_sum, values[len(COUNT_FIELDS) + 2 :]


def _flow_totals(time_range: TimeRange, filters: EventFilters) -> tuple[dict[str, int], int, int, list[int], str]:
    source = _source("flow", time_range, filters)
    (row,) = _fetch(f"SELECT {_SUMS_SQL} {source.from_where}", source.params)
    return (*_unpack_sums(row), source.resolution)


def _stats(counts: dict[str, int], delay_n: int, delay_sum: int, hist: list[int], resolution: str) -> dict:
    sent = _sent(counts)
    result: dict = {"total": sum(counts.values()), **counts, "sent": sent}
    for t in SENT_TYPES:
        result[f"{t}_rate"] = _rate(counts[t], sent)
    result["delivery_time_ms"] = _delivery_time(delay_n, delay_sum, hist)
    result["resolution"] = resolution
    return result


def stats(*, time_range: TimeRange, filters: EventFilters) -> dict:
    """Totals by type, outcome rates and delivery time (avg exact, percentiles from the histogram)."""
    return _stats(*_flow_totals(time_range, filters))


def stats_by(*, time_range: TimeRange, filters: EventFilters, group_by: str) -> dict[str, dict]:
    """:func:`stats` per node id / IP / domain (``GROUP_COLUMNS``) in one statement, keyed as text
    (node ids as digits); keys without events in the range are absent."""
    column = GROUP_COLUMNS.get(group_by)
    if column is None:
        keyed = ", ".join(name for name, col in GROUP_COLUMNS.items() if col)
        raise ValidationError({"group_by": f"group_by: expected one of {keyed}, got {group_by!r}."})
    source = _source("flow", time_range, filters, column)
    rows = _fetch(f"SELECT {_KEY_SQL[column]}, {_SUMS_SQL} {source.from_where} GROUP BY 1", source.params)
    return {key: _stats(*_unpack_sums(sums), source.resolution) for key, *sums in rows}


def delivery_time_series(*, time_range: TimeRange, filters: EventFilters) -> dict:
    """p50 / p95 / p99 delivery time (ms) per bucket from the histograms; None where nothing was delivered."""
    source = _source("flow", time_range, filters)
    hist_sums = ", ".join(f"sum(s.{h})" for h in HIST_FIELDS)
    rows = _fetch(f"SELECT s.bucket, {hist_sums} {source.from_where} GROUP BY 1", source.params)
    index = {bucket: i for i, bucket in enumerate(source.buckets)}
    series: dict[str, list[float | None]] = {key: [None] * len(index) for key in ("p50", "p95", "p99")}
    for bucket, *hist in rows:
        counts = [int(v) for v in hist]
        for key, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            series[key][index[bucket]] = hist_percentile(counts, q)
    return {"resolution": source.resolution, "buckets": [b.isoformat() for b in source.buckets], "series": series}


def delivery_histogram(*, time_range: TimeRange, filters: EventFilters) -> dict:
    """Delivered events per fixed delivery-time bucket; the last bucket (le_ms None) is open."""
    _counts, _n, _sum, hist, resolution = _flow_totals(time_range, filters)
    bounds: list[int | None] = [*HIST_BOUNDS_MS, None]
    buckets = [
        {"le_ms": le, "label": label, "count": count}
        for le, label, count in zip(bounds, HIST_LABELS, hist, strict=True)
    ]
    return {"buckets": buckets, "total": sum(hist), "resolution": resolution}


def _category_label(slug: str) -> str:
    return BounceCategory(slug).label if slug in BounceCategory.values else "Unclassified"


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def bounce_analysis(*, time_range: TimeRange, filters: EventFilters) -> dict:
    """Bounced and rejected events by category and by (SMTP code, enhanced status)."""
    source = _source("reason", time_range, filters)
    rows = _fetch(
        f"SELECT s.bounce_category, s.status_code, s.enhanced_status, sum(s.n) {source.from_where} "
        "AND s.type IN ('bounced', 'rejected') GROUP BY 1, 2, 3",
        source.params,
    )
    total = sum(int(n) for *_, n in rows)
    categories: dict[str, int] = {}
    codes: dict[tuple[int | None, str], int] = {}
    for category, code, enhanced, n in rows:
        categories[category] = categories.get(category, 0) + int(n)
        key = (code or None, enhanced)
        codes[key] = codes.get(key, 0) + int(n)
    by_category = [
        {"category": c, "label": _category_label(c), "count": n, "percent": _percent(n, total)}
        for c, n in sorted(categories.items(), key=lambda item: (-item[1], item[0]))
    ]
    by_code = [
        {"status_code": code, "enhanced_status": enhanced, "count": n, "percent": _percent(n, total)}
        for (code, enhanced), n in sorted(codes.items(), key=lambda item: (-item[1], item[0][0] or 0, item[0][1]))
    ]
    return {"total": total, "by_category": by_category, "by_code": by_code, "resolution": source.resolution}


def deferred_reasons(*, time_range: TimeRange, filters: EventFilters, limit: int = 20) -> dict:
    """The commonest deferral reasons (category + enhanced status), each with a sample response."""
    source = _source("reason", time_range, filters)
    rows = _fetch(
        "SELECT s.bounce_category, s.enhanced_status, max(s.sample_response), sum(s.n), sum(sum(s.n)) OVER () "
        f"{source.from_where} AND s.type = 'deferred' GROUP BY 1, 2 ORDER BY 4 DESC, 1, 2 LIMIT %s",
        [*source.params, limit],
    )
    total = int(rows[0][4]) if rows else 0
    reasons = [
        {
            "category": category,
            "label": _category_label(category),
            "enhanced_status": enhanced,
            "sample_response": sample,
            "count": int(n),
            "percent": _percent(int(n), total),
        }
        for category, enhanced, sample, n, _total in rows
    ]
    return {"total": total, "reasons": reasons, "resolution": source.resolution}


def deferred_reasons_by_domain(
    *, time_range: TimeRange, filters: EventFilters, domains: list[str], limit: int = 3
) -> dict[str, list[dict]]:
    """The ``limit`` commonest deferral reasons (category + enhanced status) of each recipient domain
    in ``domains``, with the share of that domain's deferrals, in one statement."""
    if not domains:
        return {}
    source = _source("reason", time_range, filters, "recipient_domain")
    rows = _fetch(
        "SELECT domain, category, enhanced, sample, n, total FROM (SELECT s.recipient_domain AS domain, "
        "s.bounce_category AS category, s.enhanced_status AS enhanced, max(s.sample_response) AS sample, "
        "sum(s.n) AS n, sum(sum(s.n)) OVER w AS total, row_number() OVER (w ORDER BY sum(s.n) DESC, "
        f"s.bounce_category, s.enhanced_status) AS r {source.from_where} AND s.type = 'deferred' "
        "AND s.recipient_domain = ANY(%s) GROUP BY 1, 2, 3 WINDOW w AS (PARTITION BY s.recipient_domain)) AS x "
        "WHERE r <= %s ORDER BY domain, n DESC, category, enhanced",
        [*source.params, [d.lower() for d in domains], limit],
    )
    reasons: dict[str, list[dict]] = {}
    for domain, category, enhanced, sample, n, total in rows:
        reasons.setdefault(domain, []).append({
            "category": category, "label": _category_label(category), "enhanced_status": enhanced,
            "sample_response": sample, "count": int(n), "percent": _percent(int(n), int(total)),
        })  # fmt: skip
    return reasons


DESTINATION_SORTS = (
    "domain", "sent", "delivered", "bounced", "deferred", "rejected", "delivery_rate", "avg_delivery_ms",
    "p95_delivery_ms",
)  # fmt: skip


def _destination_sql(source: _Source, order: str | None) -> str:
    """Per-domain sums; with ``order``, one page of them plus histograms for that page only."""
    columns = ["delivered", "bounced", "deferred", "rejected"]
    sums = ", ".join(f"sum(s.n_{c}) AS {c}" for c in columns)
    hist_sums = ", ".join(f"sum(s.{h}) AS {h}" for h in HIST_FIELDS)
    # Raw events are read whole anyway: sum the histograms in the same pass (picking the
    # page's domains again would walk an index over most of the range).
    light = order is not None and not source.raw
    rows = (
        f"WITH d AS (SELECT s.recipient_domain AS domain, {sums}, sum(s.delay_n) AS delay_n, "
        f"sum(s.delay_sum) AS delay_sum{'' if light else ', ' + hist_sums} {source.from_where} GROUP BY 1), "
        "r AS (SELECT *, delivered + bounced + deferred + rejected AS sent FROM d), "
        "rated AS (SELECT *, delivered::float8 / NULLIF(sent, 0) AS delivery_rate, "
        "delay_sum::float8 / NULLIF(delay_n, 0) AS avg_delivery_ms, count(*) OVER () AS total FROM r WHERE sent > 0)"
    )
    fields = "domain, sent, delivered, bounced, deferred, rejected, delivery_rate, avg_delivery_ms"
    if not light:
        page = f" ORDER BY {order}, domain LIMIT %s OFFSET %s" if order else ""
        return f"{rows} SELECT {fields}, {', '.join(HIST_FIELDS)}, total FROM rated{page}"
    return (
        f"{rows}, page AS MATERIALIZED (SELECT * FROM rated ORDER BY {order}, domain LIMIT %s OFFSET %s), "
        f"h AS (SELECT s.recipient_domain AS domain, {hist_sums} {source.from_where} "
        "AND s.recipient_domain IN (SELECT domain FROM page) GROUP BY 1) "
        f"SELECT {fields}, {', '.join(HIST_FIELDS)}, total FROM page LEFT JOIN h USING (domain) "
        f"ORDER BY {order}, domain"
    )


def destinations(
    *, time_range: TimeRange, filters: EventFilters, sort: str = "-sent", page: int = 1, page_size: int = 50
) -> dict:
    """Per recipient domain with at least one outcome: counts, delivery rate, avg and p95 delivery time.

    ``sort`` is any result key, "-" first for descending (empty values last); pages start at 1.
    """
    key, descending = sort.removeprefix("-"), sort.startswith("-")
    if key not in DESTINATION_SORTS:
        raise ValidationError({"sort": f"sort: expected one of {', '.join(DESTINATION_SORTS)} (- for descending)."})
    if page < 1 or page_size < 1:
        raise ValidationError({"page": "page: page and page_size must be positive."})
    source = _source("flow", time_range, filters, "recipient_domain")
    if key == "p95_delivery_ms":  # computed from each domain's histogram: every domain's is needed
        rows = [_destination(row) for row in _fetch(_destination_sql(source, None), source.params)]
        rows.sort(key=lambda r: r["domain"])
        present = sorted((r for r in rows if r[key] is not None), key=lambda r: r[key], reverse=descending)
        count = len(rows)
        rows = (present + [r for r in rows if r[key] is None])[(page - 1) * page_size : page * page_size]
    else:  # sorted and paged in SQL on light sums; histograms summed for the page's domains only
        order = f"{key} {'DESC' if descending else 'ASC'} NULLS LAST"
        params = [*source.params, page_size, (page - 1) * page_size, *([] if source.raw else source.params)]
        rows = [_destination(row) for row in _fetch(_destination_sql(source, order), params)]
        count = rows[0]["_count"] if rows else 0
        if not rows and page > 1:
            count = _fetch(f"SELECT count(*) FROM ({_destination_sql(source, None)}) AS c", source.params)[0][0]
    for row in rows:
        row.pop("_count", None)
    return {"count": count, "page": page, "page_size": page_size, "results": rows, "resolution": source.resolution}


def _destination(row: tuple) -> dict:
    domain, sent, delivered, bounced, deferred, rejected, rate, avg = row[:8]
    hist = [int(v or 0) for v in row[8 : 8 + len(HIST_FIELDS)]]
    return {
        "domain": domain,
        "sent": int(sent),
        "delivered": int(delivered),
        "bounced": int(bounced),
        "deferred": int(deferred),
        "rejected": int(rejected),
        "delivery_rate": rate,
        "avg_delivery_ms": avg,
        "p95_delivery_ms": hist_percentile(hist, 0.95),
        "_count": int(row[-1]),
    }
