"""Email flow API (/api/v1/email/*): thin views over ``selectors.py``, one per question.

Every view takes the same range (``range`` or ``from``/``to``) and filters (``node``,
``ip``, ``pool``, ``from_domain``, ``to_domain``); bad values answer 400 naming the field.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.permissions import HasPerm
from apps.nodes.models import Node
from apps.pools.models import IpPool

from . import selectors
from .selectors import DESTINATION_SORTS, GROUP_COLUMNS, RANGES, EventFilters, TimeRange


def _lookup(model, field: str, value: str, name_field: str) -> int:
    """An id given as digits or by name; 400 naming ``field`` when there is none."""
    found = model.objects.filter(**({"pk": int(value)} if value.isdigit() else {name_field: value}))
    pk = found.values_list("pk", flat=True).first()
    if pk is None:
        raise serializers.ValidationError({field: [f"{field}: no {model._meta.verbose_name} {value!r}."]})
    return pk


class RangeInput(serializers.Serializer):
    """``range`` (default 24h) or ``from``/``to`` in RFC 3339, plus the event filters."""

    range = serializers.ChoiceField(choices=list(RANGES), required=False)
    node = serializers.CharField(required=False, max_length=255, help_text="Node id or hostname.")
    ip = serializers.IPAddressField(required=False)
    pool = serializers.CharField(required=False, max_length=64, help_text="Pool id or name.")
    from_domain = serializers.CharField(required=False, max_length=255)
    to_domain = serializers.CharField(required=False, max_length=255)

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword, so these two cannot be class attributes.
        fields["from"] = serializers.CharField(required=False, help_text="RFC 3339 start, e.g. 2026-11-25T10:00:00Z.")
        fields["to"] = serializers.CharField(required=False, help_text="RFC 3339 end (default: now).")
        return fields

    def validate(self, attrs: dict) -> dict:
        try:
            attrs["time_range"] = TimeRange.parse(
                range=attrs.get("range"), start=attrs.get("from"), end=attrs.get("to")
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        node = attrs.get("node")
        pool = attrs.get("pool")
        attrs["filters"] = EventFilters(
            node=_lookup(Node, "node", node, "hostname") if node else None,
            ip=attrs.get("ip"),
            pool=_lookup(IpPool, "pool", pool, "name") if pool else None,
            from_domain=(attrs.get("from_domain") or "").lower().lstrip("@") or None,
            to_domain=(attrs.get("to_domain") or "").lower().lstrip("@") or None,
        )
        return attrs


class EmailApi(APIView):
    """Shared by the email views: session auth (the default) and the events view permission."""

    permission_classes = [HasPerm.of("events.view_emailevent")]
    Input: type[serializers.Serializer] = RangeInput

    def query(self, request) -> dict:
        data = self.Input(data=request.query_params)
        data.is_valid(raise_exception=True)
        return data.validated_data


class _DeliveryTime(serializers.Serializer):
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
        return Response(result)


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
        delivery_time_ms = _DeliveryTime()
        resolution = serializers.CharField()

    @extend_schema(parameters=[RangeInput], responses=Output)
    def get(self, request):
        q = self.query(request)
        return Response(selectors.stats(time_range=q["time_range"], filters=q["filters"]))


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
        return Response(selectors.bounce_analysis(time_range=q["time_range"], filters=q["filters"]))


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
        return Response(selectors.delivery_histogram(time_range=q["time_range"], filters=q["filters"]))


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
        return Response(result)


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
        return Response(result)


class EmailQueueApi(EmailApi):
    """Total and per-node mail queue from the agents' reports (a bucket holds the last report in it)."""

    class Input(RangeInput):
        pass

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

    @extend_schema(parameters=[RangeInput], responses=Output)
    def get(self, request):
        q = self.query(request)
        return Response(selectors.queue(time_range=q["time_range"], node=q["filters"].node))
