"""Delivery events reported by the MTAs, and the rules that classify bounces."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, GinIndex, HashIndex
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Lookup

from ..choices import BounceCategory, EventType


class QueueId(models.Func):
    """The MTA's queue id inside ``event_id``: every shipper writes ``<node>:<queue id>:…``."""

    function = "split_part"
    output_field = models.CharField()

    def __init__(self, **extra):
        super().__init__(F("event_id"), Value(":"), Value(2), **extra)


class LocalPart(models.Func):
    """``split_part(lower(address), '@', 1)``: the part of an address before the ``@``, lower case."""

    function = "split_part"
    output_field = models.TextField()

    def __init__(self, field: str, **extra):
        super().__init__(Lower(field), Value("@"), Value(1), **extra)


class SearchTokens(models.Func):
    """The words event search looks events up by, as one array: the GIN index's expression.

    Recipient and sender local parts (lower case), the queue id, the sending IP and the
    sender domain. A search asks ``tokens && ARRAY[word]`` and then checks the exact
    column, so a token that happens to match another kind (a local part spelt like a
    queue id) costs a recheck, never a wrong result. One GIN index with ``fastupdate``
    (new entries collect in a pending list that is merged in sorted runs) costs ingest
    a fraction of what one btree per kind did (docs/architecture.md, "Search indexes
    and ingest").
    """

    template = "ARRAY[%(expressions)s]"
    output_field = ArrayField(models.TextField())

    def __init__(self, **extra):
        super().__init__(
            LocalPart("recipient"),
            LocalPart("sender"),
            QueueId(),
            models.Func(F("sending_ip"), function="host", output_field=models.TextField()),
            F("sender_domain"),
            **extra,
        )


class ILike(Lookup):
    """``response ILIKE '%…%'`` as PostgreSQL writes it, so that the trigram index serves it
    (Django's ``icontains`` writes ``UPPER(…) LIKE UPPER(…)``, which no index here holds)."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


class EmailEvent(models.Model):
    """What happened to one message at one moment: a time-series row, partitioned by day.

    ``event_id`` is the sender's idempotency key: (event_id, time) is unique, so a
    resent batch stores nothing twice.
    """

    time = models.DateTimeField()
    event_id = models.CharField(max_length=128)
    type = models.CharField(max_length=16, choices=EventType.choices)
    node = models.ForeignKey("nodes.Node", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    sending_ip = models.GenericIPAddressField(null=True, blank=True)
    message_id = models.CharField(max_length=998, blank=True)
    sender = models.CharField(max_length=320, blank=True)
    sender_domain = models.CharField(max_length=255, blank=True)
    recipient = models.CharField(max_length=320)
    recipient_domain = models.CharField(max_length=255)
    mx_host = models.CharField(max_length=255, blank=True)
    status_code = models.SmallIntegerField(null=True, blank=True)
    enhanced_status = models.CharField(max_length=16, blank=True)
    response = models.TextField(blank=True)
    delay_ms = models.IntegerField(null=True, blank=True)
    bounce_category = models.CharField(max_length=24, choices=BounceCategory.choices, blank=True)
    size = models.IntegerField(null=True, blank=True)
    account = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_id", "time"], name="emailevent_event_id_time")]
        indexes = [
            # autosummarize: new blocks join the index as they fill, so "newest first" stays cheap.
            BrinIndex(fields=["time"], name="emailevent_time_brin", autosummarize=True),
            models.Index(fields=["node", "time"], name="emailevent_node_time"),
            models.Index(fields=["recipient_domain", "time"], name="emailevent_rdomain_time"),
            # Exact Message-ID lookups only: a hash index costs ingest ~15% less than a btree here.
            HashIndex(fields=["message_id"], name="emailevent_message_id"),
            # Event search (selectors_search): address, local part, queue id, IP and sender
            # domain, all in one GIN index of SearchTokens (docs/architecture.md, "Search indexes and ingest").
            GinIndex(SearchTokens(), name="emailevent_search_tokens"),
            # + emailevent_response_trgm (GIN, pg_trgm) where the server has contrib: migration 0006.
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.recipient} @ {self.time:%Y-%m-%d %H:%M:%S}"


EmailEvent._meta.get_field("response").register_lookup(ILike)


class BounceRule(models.Model):
    """One classification rule: all non-empty patterns must match; lower priority wins."""

    name = models.CharField(max_length=100, unique=True)
    category = models.CharField(max_length=24, choices=BounceCategory.choices)
    priority = models.IntegerField(default=100)
    status_code = models.CharField(max_length=64, blank=True, help_text="Regex on the SMTP code, e.g. ^5")
    enhanced_status = models.CharField(max_length=64, blank=True, help_text=r"Regex, e.g. ^5\.1\.1$")
    # TextField: shipped rules list many providers' wordings in one alternation (> 500 chars).
    response = models.TextField(blank=True, help_text="Case-insensitive regex on the text.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return f"{self.priority} {self.name} → {self.category}"
