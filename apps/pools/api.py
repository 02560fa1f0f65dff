"""Pools API: list, create, read, change and delete pools (``/api/v1/ips/pools``), through the services."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.netutil import client_address
from apps.ips.choices import IpStatus

from . import services
from .choices import PoolType
from .models import IpPool


def _counted():
    return IpPool.objects.annotate(
        ip_count=Count("ips"), active_ips=Count("ips", filter=Q(ips__status=IpStatus.ACTIVE)),
        paused_ips=Count("ips", filter=Q(ips__status=IpStatus.PAUSED)),
    ).order_by("name")  # fmt: skip


class PoolSerializer(serializers.ModelSerializer):
    ip_count = serializers.IntegerField(read_only=True)
    active_ips = serializers.IntegerField(read_only=True)
    paused_ips = serializers.IntegerField(read_only=True)

    class Meta:
        model = IpPool
        fields = ["id", "name", "type", "description", "ip_count", "active_ips", "paused_ips", "created_at",
                  "updated_at"]  # fmt: skip


class PoolInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=64)
    type = serializers.ChoiceField(choices=PoolType.choices, required=False, default=PoolType.GENERAL)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


def _call(service, **kwargs) -> IpPool:
    try:
        return service(**kwargs)
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict) from None


class PoolListApi(ListAPIView):
    """Every pool with its IP counts; POST creates one."""

    serializer_class = PoolSerializer
    queryset = IpPool.objects.none()  # for the model permission check

    def get_queryset(self):
        return _counted()

    @extend_schema(request=PoolInputSerializer, responses={201: PoolSerializer})
    def post(self, request):
        data = PoolInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pool = _call(services.pool_create, actor=request.user, remote_addr=client_address(request.META),
                     **data.validated_data)  # fmt: skip
        return Response(PoolSerializer(_counted().get(pk=pool.pk)).data, status=201)


def _pool(pk: str, rows=None) -> IpPool:
    """The pool of the path, or a JSON 404 (also for ids that are not ids)."""
    row = None
    if pk.isascii() and pk.isdigit() and int(pk) < 2**63:
        row = (rows if rows is not None else IpPool.objects).filter(pk=int(pk)).first()
    if row is None:
        raise NotFound(f"no pool {pk[:40]!r}")
    return row


@extend_schema(parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The pool's id.")])
class PoolDetailApi(APIView):
    """One pool: read, change (PATCH: any of name, type, description) or delete (its IPs stay, in no pool)."""

    queryset = IpPool.objects.none()  # for the model permission check

    class PatchSerializer(PoolInputSerializer):
        name = serializers.SlugField(max_length=64, required=False)
        type = serializers.ChoiceField(choices=PoolType.choices, required=False)
        description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)

    @extend_schema(responses=PoolSerializer)
    def get(self, request, id: str):
        return Response(PoolSerializer(_pool(id, _counted())).data)

    @extend_schema(request=PatchSerializer, responses=PoolSerializer)
    def patch(self, request, id: str):
        pool = _pool(id)
        data = self.PatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _call(services.pool_update, pool=pool, actor=request.user, remote_addr=client_address(request.META),
              **data.validated_data)  # fmt: skip
        return Response(PoolSerializer(_counted().get(pk=pool.pk)).data)

    @extend_schema(request=PoolInputSerializer, responses=PoolSerializer)
    def put(self, request, id: str):
        pool = _pool(id)
        data = PoolInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _call(services.pool_update, pool=pool, actor=request.user, remote_addr=client_address(request.META),
              **data.validated_data)  # fmt: skip
        return Response(PoolSerializer(_counted().get(pk=pool.pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, id: str):
        pool = _pool(id)
        services.pool_delete(pool=pool, actor=request.user, remote_addr=client_address(request.META))
        return Response(status=204)
