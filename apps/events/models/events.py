"""Delivery events reported by the MTAs, and the rules that classify bounces."""

from __future__ import annotations

from django.contrib.postgres.indexes import BrinIndex, HashIndex, OpClass
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
            # Event search (selectors_search): one index per kind of q, "(key, time)" so that the
            # newest matches of a busy key come from the index in time order.
            models.Index(fields=["sending_ip", "time"], name="emailevent_ip_time"),
            models.Index(fields=["sender_domain", "time"], name="emailevent_sdomain_time"),
            models.Index(OpClass(Lower("recipient"), name="text_pattern_ops"), F("time"), name="emailevent_rcpt_time"),
            models.Index(OpClass(Lower("sender"), name="text_pattern_ops"), F("time"), name="emailevent_sender_time"),
            models.Index(QueueId(), F("time"), name="emailevent_queue_id_time"),
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
