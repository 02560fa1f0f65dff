"""Fleet API."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.agent_auth import AgentKeyAuthentication
from apps.core.permissions import HasPerm, IsAgent
from apps.events import selectors as event_selectors
from apps.events.api import TimeInput
from apps.events.selectors import SENT_TYPES
from apps.events.time_range import EventFilters, TimeRange

from . import selectors
from .choices import NodeRole, NodeStatus
from .models import Node, NodeMetric
from .selectors import node_list
from .services import NodeRegistrationRefused, node_metric_record


class NodeListApi(ListAPIView):
    """All nodes with role and status; filter with ?role=, ?status=, ?search=."""

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Node
            fields = [
                "id", "hostname", "role", "address", "subnet_label", "status", "approved", "last_seen", "metadata",
            ]

    serializer_class = OutputSerializer
    queryset = Node.objects.none()  # for the model permission check

    class FilterSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=NodeRole.choices, required=False)
        status = serializers.ChoiceField(choices=NodeStatus.choices, required=False)
        search = serializers.CharField(required=False, max_length=255)

    @extend_schema(
        parameters=[
            OpenApiParameter("role", enum=NodeRole.values),
            OpenApiParameter("status", enum=NodeStatus.values),
            OpenApiParameter("search", str),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return node_list(**filters.validated_data)


# A report may be stamped up to this far ahead of the server's clock (agents' clock skew).
FUTURE_TOLERANCE = dt.timedelta(days=1)
BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


def _no_nul(value) -> None:
    """PostgreSQL's jsonb cannot hold NUL characters: refuse them in any key or string of a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)
    elif isinstance(value, str) and "\x00" in value:
        raise serializers.ValidationError("NUL characters are not allowed.")


class NodeMetricsIngestApi(APIView):
    """An agent's report (every 15 s): resources, queue and services of one node."""

    authentication_classes = [AgentKeyAuthentication]
    permission_classes = [IsAgent]

    class InputSerializer(serializers.Serializer):
        hostname = serializers.CharField(max_length=255)
        time = serializers.DateTimeField(
            required=False,
            help_text="Default: now. At most 1 day ahead of the server's clock, "
            "not older than MAILMON_METRICS_RETENTION_DAYS (default 30).",
        )
        role = serializers.ChoiceField(choices=NodeRole.choices, required=False)
        cpu_percent = serializers.FloatField(min_value=0, max_value=100, required=False, allow_null=True)
        memory_percent = serializers.FloatField(min_value=0, max_value=100, required=False, allow_null=True)
        swap_percent = serializers.FloatField(min_value=0, max_value=100, required=False, allow_null=True)
        disks = serializers.DictField(child=serializers.DictField(), required=False, validators=[_no_nul])
        net_rx_bytes = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, required=False, allow_null=True)
        net_tx_bytes = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, required=False, allow_null=True)
        load1 = serializers.FloatField(min_value=0, required=False, allow_null=True)
        load5 = serializers.FloatField(min_value=0, required=False, allow_null=True)
        load15 = serializers.FloatField(min_value=0, required=False, allow_null=True)
        queue_size = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False, allow_null=True)
        services = serializers.DictField(child=serializers.BooleanField(), required=False, validators=[_no_nul])

        def validate_time(self, value: dt.datetime) -> dt.datetime:
            now = timezone.now()
            if value > now + FUTURE_TOLERANCE:
                raise serializers.ValidationError("Time is more than 1 day in the future.")
            retention = settings.MAILMON_METRICS_RETENTION_DAYS
            if value < now - dt.timedelta(days=retention):
                raise serializers.ValidationError(f"Time is older than the {retention}-day metrics retention.")
            return value

    @extend_schema(
        request=InputSerializer,
        responses={
            202: NodeListApi.OutputSerializer,
            403: OpenApiResponse(description="Key scoped to another node, or the key's node limit reached."),
            429: OpenApiResponse(description="Too many new hostnames this minute for this key (Retry-After)."),
            503: OpenApiResponse(description="Database unavailable; send the report again after Retry-After."),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        hostname = values.pop("hostname")
        key = request.auth
        if key.node_id and key.node.hostname != hostname:
            raise PermissionDenied(f"this key speaks only for {key.node.hostname}")
        try:
            node = node_metric_record(
                hostname=hostname, time=values.pop("time", None) or timezone.now(), key=key, **values
            )
        except NodeRegistrationRefused as refused:
            response = Response({"detail": str(refused)}, status=refused.status)
            if refused.retry_after:
                response["Retry-After"] = str(refused.retry_after)
            return response
        return Response(NodeListApi.OutputSerializer(node).data, status=202)


def _node_or_404(hostname: str) -> Node:
    # A name PostgreSQL cannot even compare (NUL, over-long) names no node either.
    if len(hostname) > 255 or not hostname.isprintable():
        raise NotFound(f"No node {hostname[:40]!r}.")
    node = Node.objects.filter(hostname=hostname).first()
    if node is None:
        raise NotFound(f"No node {hostname!r}.")
    return node


class NodeDetailApi(APIView):
    """One node (including one waiting for approval): its fields, latest report, services now,
    its sending IPs by status and its mail outcomes over the last 24 hours."""

    permission_classes = [HasPerm.of("nodes.view_node")]

    class OutputSerializer(NodeListApi.OutputSerializer):
        class LatestMetrics(serializers.ModelSerializer):
            class Meta:
                model = NodeMetric
                fields = [
                    "time", "cpu_percent", "memory_percent", "swap_percent", "disks", "net_rx_bytes", "net_tx_bytes",
                    "load1", "load5", "load15", "queue_size",
                ]

        class Counts(serializers.Serializer):
            class IpCounts(serializers.Serializer):
                total = serializers.IntegerField()
                active = serializers.IntegerField()
                paused = serializers.IntegerField()
                quarantined = serializers.IntegerField()
                retired = serializers.IntegerField()

            class Events24h(serializers.Serializer):
                sent = serializers.IntegerField()
                delivered = serializers.IntegerField()
                deferred = serializers.IntegerField()
                bounced = serializers.IntegerField()
                rejected = serializers.IntegerField()

            sending_ips = IpCounts()
            events_24h = Events24h(help_text="The node's mail outcomes over the last 24 hours.")

        latest_metrics = LatestMetrics(allow_null=True, help_text="The newest report; null before the first.")
        services = serializers.DictField(child=serializers.BooleanField(), help_text="As in the newest report.")
        counts = Counts()

        class Meta(NodeListApi.OutputSerializer.Meta):
            fields = [*NodeListApi.OutputSerializer.Meta.fields, "latest_metrics", "services", "counts"]

    @extend_schema(responses=OutputSerializer)
    def get(self, request, hostname: str):
        node = _node_or_404(hostname)
        latest = selectors.node_latest_metric(node=node)
        events = event_selectors.stats(time_range=TimeRange.parse(range="24h", start=None, end=None),
                                       filters=EventFilters(node=node.pk))
        node.latest_metrics = latest
        node.services = (latest.services if latest else None) or {}
        node.counts = {"sending_ips": selectors.node_ip_counts(node=node),
                       "events_24h": {key: events[key] for key in ("sent", *SENT_TYPES)}}
        return Response(self.OutputSerializer(node).data)


class NodeMetricsReadApi(APIView):
    """The node's reports over a range, folded into buckets whose width follows the range's length
    (1m up to 6 h, 5m up to 36 h, 30m up to 8 days, 2h up to 31 days, then 1d); ``resolution`` says
    which. Buckets without reports are null."""

    permission_classes = [HasPerm.of("nodes.view_node")]

    class Input(TimeInput):
        pass

    class OutputSerializer(serializers.Serializer):
        hostname = serializers.CharField()
        resolution = serializers.ChoiceField(choices=[name for name, _step, _span in selectors.METRIC_RESOLUTIONS])
        buckets = serializers.ListField(child=serializers.DateTimeField(), help_text="Start of each bucket (UTC).")
        samples = serializers.ListField(child=serializers.IntegerField(), help_text="Reports in each bucket.")
        series = serializers.DictField(
            child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
            help_text="Per bucket: mean cpu_percent, memory_percent, swap_percent, load1, load5, load15; the maximum "
            "cpu_percent_max and queue_size; net_rx_bps and net_tx_bps in bytes/s from the byte counters.",
        )
        disks = serializers.DictField(child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
                                      help_text="Mean used_percent per mount.")
        services = serializers.DictField(child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
                                         help_text="Per service, the share of the bucket's reports that saw it up.")

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = serializers.DateTimeField(help_text="Start of the range asked for.")
            fields["to"] = serializers.DateTimeField(help_text="End of the range asked for.")
            return fields

    @extend_schema(parameters=[Input], responses=OutputSerializer)
    def get(self, request, hostname: str):
        node = _node_or_404(hostname)
        data = self.Input(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response(self.OutputSerializer(selectors.node_metrics(node=node,
                                                                     time_range=data.validated_data["time_range"])).data)
