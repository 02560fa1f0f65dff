"""DNSBL API: current listings, one IP's history, and "check now"."""

from __future__ import annotations

import ipaddress

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.netutil import client_address
from apps.core.permissions import HasPerm
from apps.ips.models import SendingIP

from . import selectors, services
from .choices import ZoneKind
from .models import DnsblChange, DnsblState


class ListingListApi(ListAPIView):
    """What is listed now: one row per (IP or domain, zone); filter with ?zone=, ?ip=, ?kind=."""

    class OutputSerializer(serializers.ModelSerializer):
        ip = serializers.CharField(source="ip.address", allow_null=True, default=None)
        domain = serializers.CharField(source="domain.name", allow_null=True, default=None)
        zone = serializers.CharField(source="zone.name")
        zone_label = serializers.CharField(source="zone.label")
        may_pause = serializers.BooleanField(source="zone.may_pause")
        meaning = serializers.CharField()

        class Meta:
            model = DnsblState
            fields = ["ip", "domain", "zone", "zone_label", "may_pause", "code", "meaning", "reason",
                      "listed_since", "checked_at", "listed_streak"]

    class FilterSerializer(serializers.Serializer):
        zone = serializers.CharField(required=False, max_length=253)
        ip = serializers.IPAddressField(required=False)
        kind = serializers.ChoiceField(choices=ZoneKind.choices, required=False)

    serializer_class = OutputSerializer
    queryset = DnsblState.objects.none()  # for the model permission check

    @extend_schema(parameters=[OpenApiParameter("zone", str), OpenApiParameter("ip", str),
                               OpenApiParameter("kind", enum=ZoneKind.values)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.listings(**filters.validated_data)


class IpHistoryApi(ListAPIView):
    """Every state change of one sending IP on every zone, newest first."""

    class OutputSerializer(serializers.ModelSerializer):
        zone = serializers.CharField(source="zone.name")
        meaning = serializers.SerializerMethodField()

        class Meta:
            model = DnsblChange
            fields = ["time", "zone", "previous", "state", "code", "meaning", "reason", "error"]

        def get_meaning(self, change: DnsblChange) -> str:
            return change.zone.meaning(change.code)

    serializer_class = OutputSerializer
    queryset = DnsblChange.objects.none()
    permission_classes = [HasPerm.of("dnsbl.view_dnsblstate")]

    def get_queryset(self):
        raw = self.kwargs["ip"]
        try:
            address = str(ipaddress.ip_address(raw))
        except ValueError as exc:
            raise ValidationError({"ip": [f"not an IP address: {raw!r}"]}) from exc
        return selectors.ip_history(get_object_or_404(SendingIP, address=address))


class CheckApi(APIView):
    """Check sending IPs now (``ips``, or ``all``: every IP that is not retired). The checks run as
    Celery tasks; progress arrives on the ``dnsbl`` live stream with this ``run`` id."""

    permission_classes = [HasPerm.of("dnsbl.change_dnsblstate")]

    class InputSerializer(serializers.Serializer):
        ips = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=10000)
        all = serializers.BooleanField(required=False, default=False)

        def validate(self, data):
            if not data.get("all") and not data.get("ips"):
                raise ValidationError({"ips": ["name at least one sending IP, or set all: true"]})
            return data

    class OutputSerializer(serializers.Serializer):
        run = serializers.CharField()
        total = serializers.IntegerField()
        chunks = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            ips = services.ips_to_check(addresses=data.validated_data.get("ips") or [],
                                        every=data.validated_data["all"])
        except ValueError as exc:
            raise ValidationError({"ips": [str(exc)]}) from exc
        run = services.dnsbl_check_request(ips=ips, actor=request.user, remote_addr=client_address(request.META))
        return Response(self.OutputSerializer(run).data, status=202)
