"""Sending-IP API: what the MTAs obey (``/api/v1/mta/pools``)."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.views import APIView

from apps.core.agent_auth import AgentKeyAuthentication
from apps.core.permissions import IsAgent
from apps.nodes.models import Node
from apps.pools.choices import PoolType

from .mta import mta_pools_answer


class MtaPoolsApi(APIView):
    """For each pool, the IPs allowed to send now (active, under their daily limit), with weight
    and remaining quota. Send the last ETag in If-None-Match: 304 while nothing changed."""

    authentication_classes = [AgentKeyAuthentication]
    permission_classes = [IsAgent]

    class FilterSerializer(serializers.Serializer):
        node = serializers.CharField(required=False, max_length=255)

    class OutputSerializer(serializers.Serializer):
        class PoolSerializer(serializers.Serializer):
            class IpSerializer(serializers.Serializer):
                address = serializers.IPAddressField()
                version = serializers.ChoiceField(choices=[4, 6])
                node = serializers.CharField(allow_null=True)
                weight = serializers.IntegerField(min_value=1, max_value=1000)
                daily_limit = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")
                sent_today = serializers.IntegerField(help_text="Attempts today (UTC) from the event rollups.")
                remaining = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")

            id = serializers.IntegerField()
            name = serializers.CharField()
            type = serializers.ChoiceField(choices=PoolType.choices)
            ips = IpSerializer(many=True)

        generated_at = serializers.DateTimeField()
        pools = PoolSerializer(many=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("node", str, description="Hostname: narrows a fleet key to one node's IPs."),
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="The last ETag seen."),
        ],
        responses={
            200: OutputSerializer,
            304: OpenApiResponse(description="Nothing changed since the ETag in If-None-Match."),
        },
    )
    def get(self, request):
        answer = mta_pools_answer(node_id=self._node_id(request))
        if answer.etag in parse_etags(request.headers.get("If-None-Match", "")):
            response = HttpResponseNotModified()
        else:
            response = HttpResponse(answer.body, content_type="application/json")
        response["ETag"] = answer.etag
        response["Cache-Control"] = "no-cache"
        return response

    def _node_id(self, request) -> int | None:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        hostname = filters.validated_data.get("node")
        key = request.auth
        if key.node_id:
            if hostname and hostname != key.node.hostname:
                raise PermissionDenied(f"this key speaks only for {key.node.hostname}")
            return key.node_id
        if not hostname:
            return None
        node_id = Node.objects.filter(hostname=hostname).values_list("id", flat=True).first()
        if node_id is None:
            raise ValidationError({"node": [f"node: no node {hostname!r}."]})
        return node_id
