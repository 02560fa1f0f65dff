"""ZoneMTA cluster API: the ZoneMTA nodes, and one node's performance, sending IPs and destinations.

Read-only, for every role (``nodes.view_node``), through ``selectors_mta`` (the node page's
tabs read the same). ``{id}`` is the node's id; an unknown id, or a node whose role is not
ZoneMTA, answers 404 saying which.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.permissions import HasPerm
from apps.events.api import DeliveryTime, EmailDeferredReasonsApi, EmailDestinationsApi, TimeInput
from apps.events.selectors import DESTINATION_SORTS
from apps.ips.choices import IpStatus, PtrStatus

from . import selectors_mta
from .choices import NodeRole, NodeStatus
from .health import LABELS
from .models import Node

BIGINT_MAX = 2**63 - 1
VIEW = "nodes.view_node"


def zonemta_node_or_404(node_id: int) -> Node:
    """The ZoneMTA node ``node_id``; 404 naming why for an unknown id or another role."""
    node = Node.objects.filter(pk=node_id).first() if 0 < node_id <= BIGINT_MAX else None
    if node is None:
        raise NotFound(f"No node {node_id}.")
    if node.role != NodeRole.ZONEMTA:
        raise NotFound(f"Node {node_id} ({node.hostname}) is not a ZoneMTA node (role {node.role}).")
    return node


class PageInput(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=10**6, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=1000, default=50)


class Mail(serializers.Serializer):
    sent = serializers.IntegerField(help_text="delivered + bounced + deferred + rejected")
    delivered = serializers.IntegerField()
    bounced = serializers.IntegerField()
    deferred = serializers.IntegerField()
    rejected = serializers.IntegerField()


class NodeRef(serializers.Serializer):
    id = serializers.IntegerField()
    hostname = serializers.CharField()


def _valid(serializer_class, request) -> dict:
    data = serializer_class(data=request.query_params)
    data.is_valid(raise_exception=True)
    return data.validated_data


class ZoneMtaNodeListApi(APIView):
    """The ZoneMTA nodes (approved), by hostname: status and health now, last report, queue size,
    mail over the last hour and 24 hours (from the rollups), sending-IP count. Paginated."""

    permission_classes = [HasPerm.of(VIEW)]

    class OutputSerializer(serializers.Serializer):
        class Row(serializers.Serializer):
            class HealthSerializer(serializers.Serializer):
                status = serializers.ChoiceField(choices=list(LABELS.items()))
                reason = serializers.CharField(help_text="In words; empty when healthy.")

            id = serializers.IntegerField()
            hostname = serializers.CharField()
            address = serializers.IPAddressField(allow_null=True)
            status = serializers.ChoiceField(choices=NodeStatus.choices)
            health = HealthSerializer(allow_null=True, help_text="The one health notion (node and its mail).")
            last_seen = serializers.DateTimeField(allow_null=True)
            queue_size = serializers.IntegerField(allow_null=True, help_text="From the newest report of the last day.")
            ip_count = serializers.IntegerField()
            mail_1h = Mail()
            mail_24h = Mail()

        count = serializers.IntegerField()
        page = serializers.IntegerField()
        page_size = serializers.IntegerField()
        results = Row(many=True)

    @extend_schema(parameters=[PageInput], responses=OutputSerializer)
    def get(self, request):
        q = _valid(PageInput, request)
        return Response(self.OutputSerializer(selectors_mta.zonemta_node_list(**q)).data)


class ZoneMtaPerformanceApi(APIView):
    """One ZoneMTA node's mail over a range (``range`` or ``from``/``to``, as the email API): totals,
    delivery/bounce/deferral rates (bounce = bounced + rejected of sent), delivery time avg/p50/p95/p99,
    and per bucket the outcomes, rates and percentiles (null where nothing was sent or delivered)."""

    permission_classes = [HasPerm.of(VIEW)]

    class Input(TimeInput):
        pass

    class OutputSerializer(serializers.Serializer):
        class Rates(serializers.Serializer):
            delivery = serializers.FloatField(allow_null=True)
            bounce = serializers.FloatField(allow_null=True)
            deferral = serializers.FloatField(allow_null=True)

        class Series(serializers.Serializer):
            sent = serializers.ListField(child=serializers.IntegerField())
            delivered = serializers.ListField(child=serializers.IntegerField())
            bounced = serializers.ListField(child=serializers.IntegerField())
            deferred = serializers.ListField(child=serializers.IntegerField())
            rejected = serializers.ListField(child=serializers.IntegerField())
            bounce_rate = serializers.ListField(child=serializers.FloatField(allow_null=True))
            deferral_rate = serializers.ListField(child=serializers.FloatField(allow_null=True))
            delivery_p50_ms = serializers.ListField(child=serializers.FloatField(allow_null=True))
            delivery_p95_ms = serializers.ListField(child=serializers.FloatField(allow_null=True))
            delivery_p99_ms = serializers.ListField(child=serializers.FloatField(allow_null=True))

        node = NodeRef()
        resolution = serializers.CharField(help_text="Rollup grain: 5m under 6 h, 1h up to 7 days, then 1d.")
        buckets = serializers.ListField(child=serializers.DateTimeField(), help_text="Start of each bucket (UTC).")
        totals = Mail()
        rates = Rates()
        delivery_time_ms = DeliveryTime()
        series = Series()

        def get_fields(self):
            fields = super().get_fields()
            fields["from"] = serializers.DateTimeField(help_text="Start of the range asked for.")
            fields["to"] = serializers.DateTimeField(help_text="End of the range asked for.")
            return fields

    @extend_schema(parameters=[Input], responses=OutputSerializer)
    def get(self, request, id: int):
        node = zonemta_node_or_404(id)
        q = _valid(self.Input, request)
        return Response(self.OutputSerializer(selectors_mta.node_performance(node=node,
                                                                             time_range=q["time_range"])).data)


class ZoneMtaIpsApi(APIView):
    """One ZoneMTA node's sending IPs, by address: status, pool, PTR, warmup day and daily limit, and
    sent 1 h / 24 h / today with the 24 h bounce rate from the IP rollups. Paginated."""

    permission_classes = [HasPerm.of(VIEW)]

    class OutputSerializer(serializers.Serializer):
        class Row(serializers.Serializer):
            address = serializers.IPAddressField()
            version = serializers.SerializerMethodField()
            status = serializers.ChoiceField(choices=IpStatus.choices)
            pool = serializers.CharField(source="pool.name", allow_null=True, default=None)
            weight = serializers.IntegerField()
            ptr = serializers.CharField()
            ptr_status = serializers.ChoiceField(choices=PtrStatus.choices)
            warmup_schedule = serializers.CharField(source="warmup_schedule.name", allow_null=True, default=None)
            warmup_day = serializers.IntegerField(allow_null=True)
            daily_limit = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")
            sent_1h = serializers.IntegerField(source="stats.sent_1h")
            sent_24h = serializers.IntegerField(source="stats.sent_24h")
            sent_today = serializers.IntegerField(source="stats.sent_today")
            bounce_rate = serializers.FloatField(source="stats.bounce_rate", allow_null=True,
                                                 help_text="Bounced of sent over 24 h; null when nothing was sent.")
            last_used_at = serializers.DateTimeField(allow_null=True)

            def get_version(self, ip) -> int:
                return 6 if ":" in ip.address else 4

        count = serializers.IntegerField()
        page = serializers.IntegerField()
        page_size = serializers.IntegerField()
        results = Row(many=True)

    @extend_schema(parameters=[PageInput], responses=OutputSerializer)
    def get(self, request, id: int):
        node = zonemta_node_or_404(id)
        q = _valid(PageInput, request)
        return Response(self.OutputSerializer(selectors_mta.node_ips(node=node, **q)).data)


class ZoneMtaDestinationsApi(APIView):
    """One ZoneMTA node's mail per recipient domain over a range: outcomes, delivery rate, avg and p95
    delivery time, and the domain's commonest deferral reasons (up to 3). Sortable, paginated."""

    permission_classes = [HasPerm.of(VIEW)]

    class Input(TimeInput):
        sort = serializers.ChoiceField(choices=[*DESTINATION_SORTS, *(f"-{k}" for k in DESTINATION_SORTS)],
                                       default="-sent")  # fmt: skip
        page = serializers.IntegerField(min_value=1, max_value=10**6, default=1)
        page_size = serializers.IntegerField(min_value=1, max_value=1000, default=50)

    class OutputSerializer(serializers.Serializer):
        class Row(EmailDestinationsApi.Output.Destination):
            top_deferrals = EmailDeferredReasonsApi.Output.Reason(many=True)

        count = serializers.IntegerField()
        page = serializers.IntegerField()
        page_size = serializers.IntegerField()
        results = Row(many=True)
        resolution = serializers.CharField()

    @extend_schema(parameters=[Input], responses=OutputSerializer)
    def get(self, request, id: int):
        node = zonemta_node_or_404(id)
        q = _valid(self.Input, request)
        data = selectors_mta.node_destinations(node=node, time_range=q["time_range"], sort=q["sort"], page=q["page"],
                                               page_size=q["page_size"])  # fmt: skip
        return Response(self.OutputSerializer(data).data)
