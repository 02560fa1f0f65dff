"""Email flow API (/api/v1/email/*): thin views over ``selectors.py``, one per question.

Every view takes the same range (``range`` or ``from``/``to``) and filters (``node``,
``ip``, ``pool``, ``from_domain``, ``to_domain``; the queue only ``node``), parsed by
``time_range.py`` as the pages parse them; bad values answer 400 naming the field.
Each answer is shaped by the view's ``Output`` serializer, which is also its schema.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.permissions import HasPerm
from apps.core.schema import IP_SCHEMA
from apps.nodes import selectors as node_selectors

from . import selectors, selectors_search
from .choices import EventType
from .selectors import DESTINATION_SORTS, GROUP_COLUMNS
from .time_range import (
    FILTER_FIELDS,
    MAX_NAME,
    MAX_Q,
    RANGE_CHOICES,
    SEARCH_KINDS,
    TimeRange,
    parse_criteria,
    parse_cursor,
    parse_filters,
)


class QueryText(serializers.Field):
    """A query parameter handed to ``time_range.py`` as text, unchecked here: the API and the
    pages share that one parser and its messages. Subclasses only describe it for the schema."""

    def to_internal_value(self, data) -> str:
        return str(data).strip()

    def to_representation(self, value) -> str:
        return value


@extend_schema_field({"type": "string", "enum": [key for key, _label in RANGE_CHOICES]})
class RangeParam(QueryText):
    pass


@extend_schema_field({"type": "string", "format": "date-time"})
class MomentParam(QueryText):
    pass


@extend_schema_field(IP_SCHEMA)
class IpParam(QueryText):
    pass


@extend_schema_field({"type": "string", "maxLength": MAX_NAME})
class NameParam(QueryText):
    pass


class TimeInput(serializers.Serializer):
    """``range`` (default 24h) or ``from``/``to`` in RFC 3339; the filters a subclass declares.

    Parsed by ``time_range.py`` (``TimeRange.parse``, ``parse_filters``) exactly as the pages
    parse them: an empty value means "not given", and every error names its field.
    """

    range = RangeParam(required=False, help_text="Preset ending now (default 24h); not with from/to.")

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword, so these two cannot be class attributes.
        fields["from"] = MomentParam(required=False, help_text="RFC 3339 start with offset, e.g. 2026-11-25T10:00:00Z.")
        fields["to"] = MomentParam(required=False, help_text="RFC 3339 end with offset (default: now).")
        return fields

    def validate(self, attrs: dict) -> dict:
        try:
            attrs["time_range"] = TimeRange.parse(
                range=attrs.get("range") or None, start=attrs.get("from") or None, end=attrs.get("to") or None
            )
            attrs["filters"] = parse_filters(attrs)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        return attrs


class RangeInput(TimeInput):
    """The range plus every event filter."""

    node = NameParam(required=False, help_text="Node id or hostname.")
    ip = IpParam(required=False, help_text="Sending IP.")
    pool = NameParam(required=False, help_text="IP pool id or name (events sent from its IPs).")
    from_domain = NameParam(required=False, help_text="Sender domain (case-insensitive).")
    to_domain = NameParam(required=False, help_text="Recipient domain (case-insensitive).")


class EmailApi(APIView):
    """Shared by the email views: session auth (the default), the events view permission,
    input parsed by ``Input`` and the answer shaped by ``Output``."""

    permission_classes = [HasPerm.of("events.view_emailevent")]
    Input: type[serializers.Serializer] = RangeInput
    Output: type[serializers.Serializer]

    def query(self, request) -> dict:
        declared = self.Input().fields
        unsupported = [name for name in FILTER_FIELDS if name not in declared and request.query_params.get(name)]
        if unsupported:
            allowed = ", ".join(name for name in FILTER_FIELDS if name in declared)
            raise serializers.ValidationError(
                {name: [f"{name}: not supported here; filters that apply: {allowed}."] for name in unsupported}
            )
        data = self.Input(data=request.query_params)
        data.is_valid(raise_exception=True)
        return data.validated_data

    def answer(self, result: dict) -> Response:
        return Response(self.Output(result).data)


class DeliveryTime(serializers.Serializer):
    """Delivery time of delivered events (ms): exact average, percentiles from the histogram."""

    avg = serializers.FloatField(allow_null=True)
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class EmailThroughputApi(EmailApi):
    """Events per bucket, one series per event type, or per top-10 node / IP / domain plus "other"."""

    class Input(RangeInput):
        group_by = serializers.ChoiceField(choices=list(GROUP_COLUMNS), default="type")

    class Output(serializers.Serializer):
        resolution = serializers.CharField()
        buckets = serializers.ListField(child=serializers.DateTimeField())
        series = serializers.DictField(child=serializers.ListField(child=serializers.IntegerField()))

    @extend_schema(parameters=[Input], responses=Output)
    def get(self, request):
        q = self.query(request)
        result = selectors.throughput(time_range=q["time_range"], filters=q["filters"], group_by=q["group_by"])
        return self.answer(result)


class EmailStatsApi(EmailApi):
    """Totals by type, outcome rates (of delivered + bounced + deferred + rejected) and delivery time."""

    class Output(serializers.Serializer):
        total = serializers.IntegerField()
        sent = serializers.IntegerField()
        queued = serializers.IntegerField()
        delivered = serializers.IntegerField()
        bounced = serializers.IntegerField()
        deferred = serializers.IntegerField()
        rejected = serializers.IntegerField()
        complained = serializers.IntegerField()
        delivered_rate = serializers.FloatField(allow_null=True)
        bounced_rate = serializers.FloatField(allow_null=True)
        deferred_rate = serializers.FloatField(allow_null=True)
        rejected_rate = serializers.FloatField(allow_null=True)
        delivery_time_ms = DeliveryTime()
        resolution = serializers.CharField()

    @extend_schema(parameters=[RangeInput], responses=Output)
    def get(self, request):
        q = self.query(request)
        return self.answer(selectors.stats(time_range=q["time_range"], filters=q["filters"]))


class EmailBounceAnalysisApi(EmailApi):
    """Bounced and rejected events by category and by SMTP code, with percentages."""

    class Output(serializers.Serializer):
        class Category(serializers.Serializer):
            category = serializers.CharField()
            label = serializers.CharField()
            count = serializers.IntegerField()
            percent = serializers.FloatField()

        class Code(serializers.Serializer):
            status_code = serializers.IntegerField(allow_null=True)
            enhanced_status = serializers.CharField()
            count = serializers.IntegerField()
            percent = serializers.FloatField()

        total = serializers.IntegerField()
        by_category = Category(many=True)
        by_code = Code(many=True)
        resolution = serializers.CharField()

    @extend_schema(parameters=[RangeInput], responses=Output)
    def get(self, request):
        q = self.query(request)
        return self.answer(selectors.bounce_analysis(time_range=q["time_range"], filters=q["filters"]))


class EmailDeliveryHistogramApi(EmailApi):
    """Delivered events per fixed delivery-time bucket (the last one, le_ms null, is open-ended)."""

    class Output(serializers.Serializer):
        class Bucket(serializers.Serializer):
            le_ms = serializers.IntegerField(allow_null=True)
            label = serializers.CharField()
            count = serializers.IntegerField()

        buckets = Bucket(many=True)
        total = serializers.IntegerField()
        resolution = serializers.CharField()

    @extend_schema(parameters=[RangeInput], responses=Output)
    def get(self, request):
        q = self.query(request)
        return self.answer(selectors.delivery_histogram(time_range=q["time_range"], filters=q["filters"]))


class EmailDeferredReasonsApi(EmailApi):
    """The commonest deferral reasons, each with a sample server response."""

    class Input(RangeInput):
        limit = serializers.IntegerField(min_value=1, max_value=200, default=20)

    class Output(serializers.Serializer):
        class Reason(serializers.Serializer):
            category = serializers.CharField()
            label = serializers.CharField()
            enhanced_status = serializers.CharField()
            sample_response = serializers.CharField()
            count = serializers.IntegerField()
            percent = serializers.FloatField()

        total = serializers.IntegerField()
        reasons = Reason(many=True)
        resolution = serializers.CharField()

    @extend_schema(parameters=[Input], responses=Output)
    def get(self, request):
        q = self.query(request)
        result = selectors.deferred_reasons(time_range=q["time_range"], filters=q["filters"], limit=q["limit"])
        return self.answer(result)


class EmailDestinationsApi(EmailApi):
    """Per recipient domain: outcomes, delivery rate, avg and p95 delivery time; sortable, paginated."""

    class Input(RangeInput):
        sort_keys = [*DESTINATION_SORTS, *(f"-{key}" for key in DESTINATION_SORTS)]
        ordering = serializers.ChoiceField(choices=sort_keys, required=False, help_text="Alias: sort.")
        sort = serializers.ChoiceField(choices=sort_keys, required=False)
        page = serializers.IntegerField(min_value=1, default=1)
        page_size = serializers.IntegerField(min_value=1, max_value=1000, default=50)

    class Output(serializers.Serializer):
        class Destination(serializers.Serializer):
            domain = serializers.CharField()
            sent = serializers.IntegerField()
            delivered = serializers.IntegerField()
            bounced = serializers.IntegerField()
            deferred = serializers.IntegerField()
            rejected = serializers.IntegerField()
            delivery_rate = serializers.FloatField(allow_null=True)
            avg_delivery_ms = serializers.FloatField(allow_null=True)
            p95_delivery_ms = serializers.FloatField(allow_null=True)

        count = serializers.IntegerField()
        page = serializers.IntegerField()
        page_size = serializers.IntegerField()
        results = Destination(many=True)
        resolution = serializers.CharField()

    @extend_schema(parameters=[Input], responses=Output)
    def get(self, request):
        q = self.query(request)
        result = selectors.destinations(
            time_range=q["time_range"],
            filters=q["filters"],
            sort=q.get("ordering") or q.get("sort") or "-sent",
            page=q["page"],
            page_size=q["page_size"],
        )
        return self.answer(result)


class EmailQueueApi(EmailApi):
    """Total and per-node mail queue from the agents' reports (a bucket holds the last report in it).

    Queue sizes are reported per node: ``ip``, ``pool`` and the domain filters answer 400.
    """

    class Input(TimeInput):
        node = NameParam(required=False, help_text="Node id or hostname.")

    class Output(serializers.Serializer):
        class NodeNow(serializers.Serializer):
            node = serializers.CharField()
            queue_size = serializers.IntegerField()
            time = serializers.DateTimeField()

        class Series(serializers.Serializer):
            buckets = serializers.ListField(child=serializers.DateTimeField())
            per_node = serializers.DictField(
                child=serializers.ListField(child=serializers.IntegerField(allow_null=True))
            )

        total_now = serializers.IntegerField(allow_null=True)
        per_node_now = NodeNow(many=True)
        series = Series()
        resolution = serializers.CharField()

    @extend_schema(parameters=[Input], responses=Output)
    def get(self, request):
        q = self.query(request)
        return self.answer(node_selectors.queue(time_range=q["time_range"], node=q["filters"].node))


@extend_schema_field({**IP_SCHEMA, "nullable": True})
class IpOutput(serializers.CharField):
    pass


class EventSearchApi(EmailApi):
    """Raw events, newest first: ``q`` (address, local part, domain, Message-ID, queue id, IP or
    response text) plus the range, the filters, ``type``, ``category`` and ``code``.

    Keyset pagination: pass ``next_cursor`` back as ``cursor`` for the next (older) page; the
    cursor is opaque and pages never repeat or skip events while new ones arrive.
    """

    class Input(RangeInput):
        q = serializers.CharField(required=False, allow_blank=True, max_length=MAX_Q, trim_whitespace=True,
                                  help_text="Full address, local part, domain, <message-id>, queue id, IP or text.")
        type = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices), required=False,
                                     help_text="Event type; repeat for several.")
        category = serializers.CharField(required=False, allow_blank=True, help_text="Bounce category slug.")
        code = serializers.CharField(required=False, allow_blank=True, max_length=40,
                                     help_text="SMTP code (550), enhanced status (5.7.1) or both (550 5.7.1).")
        cursor = serializers.CharField(required=False, allow_blank=True, max_length=400,
                                       help_text="next_cursor of the previous page.")
        limit = serializers.IntegerField(min_value=1, max_value=500, default=50)

        def validate(self, attrs: dict) -> dict:
            attrs = super().validate(attrs)
            try:
                attrs["criteria"] = parse_criteria(attrs, types=attrs.get("type"))
                attrs["cursor_at"] = parse_cursor(attrs.get("cursor"))
            except DjangoValidationError as error:
                raise serializers.ValidationError(error.message_dict) from None
            return attrs

    class Output(serializers.Serializer):
        class Event(serializers.Serializer):
            id = serializers.IntegerField()
            event_id = serializers.CharField()
            time = serializers.DateTimeField()
            type = serializers.CharField()
            node = serializers.CharField(source="node_hostname")
            sending_ip = IpOutput(allow_null=True)
            message_id = serializers.CharField()
            sender = serializers.CharField(source="sender_address")
            recipient = serializers.CharField()
            mx = serializers.CharField(source="mx_host")
            status_code = serializers.IntegerField(allow_null=True)
            enhanced_status = serializers.CharField()
            category = serializers.CharField(source="bounce_category")
            response = serializers.CharField()
            delay_ms = serializers.IntegerField(allow_null=True)
            size = serializers.IntegerField(allow_null=True)
            account = serializers.CharField()
            url = serializers.CharField(help_text="The event's page: every event of its message.")

        kind = serializers.CharField(allow_null=True, help_text="How q was read: " + ", ".join(SEARCH_KINDS) + ".")
        next_cursor = serializers.CharField(allow_null=True)
        results = Event(many=True)

    @extend_schema(operation_id="events_search", parameters=[Input], responses=Output)
    def get(self, request):
        q = self.query(request)
        page = selectors_search.events_search(time_range=q["time_range"], filters=q["filters"],
                                              criteria=q["criteria"], cursor=q["cursor_at"], page_size=q["limit"])
        for event in page.events:
            event.sender_address = event.sender
            event.url = request.build_absolute_uri(
                reverse("events-detail", args=[event.pk]) + "?" + urlencode({"time": event.time.isoformat()}))
        return self.answer({"kind": page.kind, "next_cursor": page.next_cursor, "results": page.events})
