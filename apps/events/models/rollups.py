"""Rollups of delivery events at 5 minutes, 1 hour and 1 day (see apps/events/rollups.py).

Two families, each stored at three grains and in a few narrow "cuts":

* **flow** rows count events per bucket with the event type pivoted into columns
  (``n_delivered`` …), plus the delivery time of delivered events: ``delay_n``,
  ``delay_sum`` and a fixed histogram ``h00`` … ``h21`` (bounds in
  :data:`HIST_BOUNDS_MS`), so averages are exact and percentiles come from the buckets.
* **reason** rows count bounced, rejected and deferred events per
  (type, bounce category, SMTP code, enhanced status), keeping one sample response.

Each family is cut by the dimensions the filters need: ``total`` (none), ``ip``
(node + sending IP, which also serves node and pool filters), ``sender`` (sender
domain) and ``recipient`` (recipient domain). Narrow cuts keep the rows a query
reads small (an unfiltered 30-day question reads 30 ``total`` rows); a one-table
cube of every dimension would be nearly as large as the raw events. A query whose
filters no cut holds reads the raw events through the same projection
(``selectors.py``), so results never depend on which source answered.

Below the models sits the SQL vocabulary shared by the writer (``apps/events/rollups.py``)
and the readers (``selectors.py``): bucket origin, grains, table names (always from
``_meta.db_table``), column lists and the event projection both fold. Readers import it
from here, never from the writer.
"""

from __future__ import annotations

import datetime as dt

from django.db import models

from ..choices import BounceCategory, EventType
from .events import EmailEvent

# Upper bounds (inclusive, ms) of the delivery-time histogram: roughly log-spaced from
# 100 ms to 1 h; one more bucket (h21) holds everything slower. Changing them needs a
# rebuild (manage.py rebuild_rollups) and a migration adding columns.
HIST_BOUNDS_MS: tuple[int, ...] = (
    100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500,
    10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000,
)  # fmt: skip
HIST_FIELDS: tuple[str, ...] = tuple(f"h{i:02d}" for i in range(len(HIST_BOUNDS_MS) + 1))
COUNT_FIELDS: dict[str, str] = {t: f"n_{t}" for t in EventType.values}
REASON_TYPES: tuple[str, ...] = (EventType.BOUNCED, EventType.REJECTED, EventType.DEFERRED)

# Bucket widths: as SQL intervals (date_bin) and as Python steps, the same three grains.
GRAINS: dict[str, str] = {"5m": "5 minutes", "1h": "1 hour", "1d": "1 day"}
STEPS: dict[str, dt.timedelta] = {
    "5m": dt.timedelta(minutes=5),
    "1h": dt.timedelta(hours=1),
    "1d": dt.timedelta(days=1),
}
# date_bin origin of every bucket: a UTC midnight, so daily buckets are UTC days.
ORIGIN = dt.datetime(2000, 1, 3, tzinfo=dt.UTC)
ORIGIN_SQL = f"TIMESTAMPTZ '{ORIGIN:%Y-%m-%d %H:%M:%S}+00'"
# Columns each cut is keyed by, after the bucket.
CUTS: dict[str, tuple[str, ...]] = {
    "total": (),
    "ip": ("node_id", "sending_ip"),
    "sender": ("sender_domain",),
    "recipient": ("recipient_domain",),
}
REASON_KEYS: tuple[str, ...] = ("type", "bounce_category", "status_code", "enhanced_status")


class FlowRollup(models.Model):
    """Event counts by type and delivery-time statistics of one bucket (abstract)."""

    bucket = models.DateTimeField()
    delay_n = models.IntegerField(default=0, help_text="Delivered events that reported a delay.")
    delay_sum = models.BigIntegerField(default=0, help_text="Sum of their delays (ms).")

    class Meta:
        abstract = True


for _type, _field in COUNT_FIELDS.items():
    FlowRollup.add_to_class(_field, models.IntegerField(default=0))
for _field in HIST_FIELDS:
    FlowRollup.add_to_class(_field, models.IntegerField(default=0))


class ReasonRollup(models.Model):
    """Bounced, rejected and deferred events of one bucket by reason (abstract)."""

    bucket = models.DateTimeField()
    type = models.CharField(max_length=16, choices=EventType.choices)
    bounce_category = models.CharField(max_length=24, choices=BounceCategory.choices, blank=True)
    status_code = models.SmallIntegerField(default=0, help_text="0 when the event carried none.")
    enhanced_status = models.CharField(max_length=16, blank=True)
    n = models.IntegerField(default=0)
    sample_response = models.TextField(blank=True, help_text="The greatest response text seen (≤ 500 chars).")

    class Meta:
        abstract = True


_CUT_FIELDS = {
    "node_id": lambda: models.ForeignKey(
        "nodes.Node", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    ),
    "sending_ip": lambda: models.GenericIPAddressField(null=True, blank=True),
    "sender_domain": lambda: models.CharField(max_length=255, blank=True),
    "recipient_domain": lambda: models.CharField(max_length=255),
}
_FIELD_NAMES = {"node_id": "node"}  # the model attribute behind a column
_INDEXED = {"node_id", "sending_ip", "sender_domain", "recipient_domain"}  # filter columns

# (family, cut, grain) -> model; selectors and rollups.py look tables up here.
ROLLUP_MODELS: dict[tuple[str, str, str], type[models.Model]] = {}


def _rollup_model(family: str, cut: str, grain: str) -> type[models.Model]:
    base = FlowRollup if family == "flow" else ReasonRollup
    table = f"events_{family}_{cut}_{grain}"
    keys = ["bucket", *(_FIELD_NAMES.get(c, c) for c in CUTS[cut])]
    if family == "reason":
        keys += list(REASON_KEYS)
    indexes = [
        models.Index(fields=[_FIELD_NAMES.get(c, c), "bucket"], name=f"{family}_{cut}_{grain}_{c[:8]}")
        for c in CUTS[cut]
        if c in _INDEXED
    ]
    meta = type(
        "Meta",
        (),
        {
            "db_table": table,
            "constraints": [
                # NULLS NOT DISTINCT: events without a sending IP still fold into one row.
                models.UniqueConstraint(fields=keys, name=f"{table}_key", nulls_distinct=False)
            ],
            "indexes": indexes,
        },
    )
    attrs = {"__module__": __name__, "Meta": meta, "__doc__": f"{family} rollup, cut by {cut or 'nothing'}, {grain}."}
    for column in CUTS[cut]:
        attrs[_FIELD_NAMES.get(column, column)] = _CUT_FIELDS[column]()
    name = f"{family.title()}{cut.title()}{grain}"
    return type(name, (base,), attrs)


class RollupDirtyHour(models.Model):
    """An hour whose 5-minute rollups changed since the hourly and daily ones were refreshed.

    One row per ingest batch and hour (plain inserts: ingest never waits on the refresher);
    ``rollups_refresh`` recomputes those hours and their days, then deletes exactly the
    rows it saw, so a batch committing meanwhile leaves its own row for the next refresh.
    """

    hour = models.DateTimeField()

    class Meta:
        db_table = "events_rollup_dirty"

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} needs a refresh"


__all__: list[str] = ["FlowRollup", "ReasonRollup", "RollupDirtyHour"]
for _family in ("flow", "reason"):
    for _cut in CUTS:
        for _grain in GRAINS:
            _model = _rollup_model(_family, _cut, _grain)
            ROLLUP_MODELS[(_family, _cut, _grain)] = _model
            globals()[_model.__name__] = _model
            __all__.append(_model.__name__)


# --- SQL vocabulary shared by the writer (rollups.py) and the readers (selectors.py) ---

FAMILIES = ("flow", "reason")
SAMPLE_CHARS = 500  # of a response kept as a reason's sample
# width_bucket(x, thresholds) counts thresholds <= x; with bound+1 thresholds an integer
# delay lands in bucket i exactly when bound[i-1] < delay <= bound[i] (0 below the first).
HIST_THRESHOLDS_SQL = "ARRAY[" + ",".join(str(b + 1) for b in HIST_BOUNDS_MS) + "]::int[]"


def events_table() -> str:
    return EmailEvent._meta.db_table


def dirty_table() -> str:
    return RollupDirtyHour._meta.db_table


def table_name(family: str, cut: str, grain: str) -> str:
    return ROLLUP_MODELS[(family, cut, grain)]._meta.db_table


def all_tables() -> list[str]:
    """Every rollup table, in the one order all writers lock them (avoids deadlocks)."""
    return sorted(model._meta.db_table for model in ROLLUP_MODELS.values())


def key_columns(family: str, cut: str) -> list[str]:
    return ["bucket", *CUTS[cut], *(REASON_KEYS if family == "reason" else ())]


def value_columns(family: str) -> list[str]:
    if family == "flow":
        return [*COUNT_FIELDS.values(), "delay_n", "delay_sum", *HIST_FIELDS]
    return ["n", "sample_response"]


# The event columns the rollups read: all a relation passed to event_source_sql needs
# (the ingest worker keeps just these of each newly stored row).
SOURCE_COLUMNS: tuple[str, ...] = (
    "time", "node_id", "sending_ip", "sender_domain", "recipient_domain", "type", "bounce_category",
    "status_code", "enhanced_status", "response", "delay_ms",
)  # fmt: skip


def event_source_sql(relation: str, where: str = "") -> str:
    """Event rows of ``relation`` with the columns the rollups group on, plus ``hb``."""
    columns = ", ".join("coalesce(status_code, 0) AS status_code" if c == "status_code" else c for c in SOURCE_COLUMNS)
    return f"SELECT {columns}, width_bucket(delay_ms, {HIST_THRESHOLDS_SQL}) AS hb FROM {relation} {where}"
