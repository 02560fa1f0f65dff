"""Fleet API."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.agent_auth import AgentKeyAuthentication
from apps.core.permissions import IsAgent

from .choices import NodeRole, NodeStatus
from .models import Node
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
