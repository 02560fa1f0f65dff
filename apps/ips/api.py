"""Sending-IP API: what the MTAs obey (``/api/v1/mta/pools``), the IP table, bulk actions,
CIDR ranges and warmup (``/api/v1/ips…``)."""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.agent_auth import AgentAuthError, AgentKeyAuthentication, authenticate_agent
from apps.core.netutil import client_address
from apps.core.permissions import HasPerm, IsAgent
from apps.nodes.models import Node
from apps.pools.choices import PoolType
from apps.pools.models import IpPool

from . import services
from .choices import IpStatus, PtrStatus
from .filters import parse_ip_filters
from .models import SendingIP, WarmupSchedule
from .mta import mta_pools_answer, mta_pools_etag
from .ranges import RangeError
from .selectors import SORTS, ip_queryset, ip_table
from .services_ptr import ips_ptr_check_request
from .services_warmup import UNSET, ip_warmup_set


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

    def dispatch(self, request, *args, **kwargs):
        # The pollers' common case, a GET with the current ETag, is answered before DRF's
        # machinery (request wrapping, content negotiation, serializers): with the agent key
        # from the shared key cache it costs one Redis round trip. Everything else (a
        # changed answer, ?node=, any error) goes through DRF as before.
        response = self._not_modified(request)
        return response if response is not None else super().dispatch(request, *args, **kwargs)

    @staticmethod
    def _not_modified(request) -> HttpResponse | None:
        wanted = request.META.get("HTTP_IF_NONE_MATCH")
        if request.method != "GET" or not wanted or request.GET:
            return None
        try:
            principal = authenticate_agent(request.META)
        except AgentAuthError:
            return None  # DRF answers 401/403 with the usual body
        etag = mta_pools_etag(node_id=principal.key.node_id)
        return _answer(etag, None) if etag is not None and etag in parse_etags(wanted) else None

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
        node_id = self._node_id(request)
        wanted = parse_etags(request.headers.get("If-None-Match", ""))
        etag = mta_pools_etag(node_id=node_id) if wanted else None  # unchanged: no body read from the cache
        if etag is not None and etag in wanted:
            return _answer(etag, None)
        answer = mta_pools_answer(node_id=node_id)
        return _answer(answer.etag, None if answer.etag in wanted else answer.body)

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


def _answer(etag: str, body: bytes | None) -> HttpResponse:
    """The answer with ``body``, or 304 when None."""
    response = HttpResponseNotModified() if body is None else HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    return response


# --- Staff API: the IP table, bulk actions, CIDR ranges, warmup ---

VIEW = "ips.view_sendingip"
CHANGE = "ips.change_sendingip"
ADD = "ips.add_sendingip"
ACTIONS = list(services.BULK_ACTIONS)


def _drf(exc: DjangoValidationError) -> ValidationError:
    """A Django ValidationError (a selector's or a service's) as DRF's 400 naming each field."""
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})


class IpSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    address = serializers.IPAddressField()
    version = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=IpStatus.choices)
    node = serializers.CharField(source="node.hostname", allow_null=True, default=None)
    pool = serializers.CharField(source="pool.name", allow_null=True, default=None)
    weight = serializers.IntegerField()
    subnet_label = serializers.CharField()
    ptr = serializers.CharField(help_text="Last known reverse-DNS name (kept when a check got no answer).")
    ptr_status = serializers.ChoiceField(choices=PtrStatus.choices, help_text="ok: the PTR name resolves back to "
                                         "the address; mismatch, missing, error, or unchecked.")
    ptr_detail = serializers.CharField(help_text="Why the last check did not confirm the PTR.")
    ptr_checked_at = serializers.DateTimeField(allow_null=True)
    warmup_schedule = serializers.CharField(source="warmup_schedule.name", allow_null=True, default=None)
    warmup_day = serializers.IntegerField(allow_null=True)
    warmup_started_on = serializers.DateField(allow_null=True)
    daily_limit = serializers.IntegerField(allow_null=True)
    reputation_score = serializers.FloatField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)

    def get_version(self, ip) -> int:
        return 6 if ":" in ip.address else 4


class IpListApi(APIView):
    """The IP table: filters as the page (status, pool id or "none", node id, version, q: address,
    CIDR or PTR text, ptr_status), sorted and paged, with sent 1 h / 24 h / today, bounce rate and DNSBL listings."""

    permission_classes = [HasPerm.of(VIEW)]

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=IpStatus.choices, required=False)
        pool = serializers.CharField(required=False, max_length=20, help_text='A pool id, or "none".')
        node = serializers.IntegerField(required=False, min_value=1)
        version = serializers.ChoiceField(choices=[4, 6], required=False)
        q = serializers.CharField(required=False, max_length=255)
        ptr_status = serializers.ChoiceField(choices=PtrStatus.choices, required=False)
        sort = serializers.ChoiceField(choices=[*SORTS, *(f"-{s}" for s in SORTS)], required=False, default="address")
        page = serializers.IntegerField(required=False, min_value=1, max_value=10**6, default=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=50)

    class OutputSerializer(serializers.Serializer):
        class RowSerializer(IpSerializer):
            sent_1h = serializers.IntegerField(source="stats.sent_1h")
            sent_24h = serializers.IntegerField(source="stats.sent_24h")
            sent_today = serializers.IntegerField(source="stats.sent_today")
            bounce_rate = serializers.FloatField(source="stats.bounce_rate", allow_null=True)
            dnsbl_listings = serializers.ListField(source="listings", child=serializers.CharField())

        count = serializers.IntegerField()
        page = serializers.IntegerField()
        page_size = serializers.IntegerField()
        results = RowSerializer(many=True)

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        values = dict(params.validated_data)
        sort, page, size = values.pop("sort"), values.pop("page"), values.pop("page_size")
        try:
            table = ip_table(filters=parse_ip_filters(values), sort=sort, page=page, page_size=size)
        except DjangoValidationError as exc:
            raise _drf(exc) from None
        return Response(self.OutputSerializer(table).data)


class IpBulkApi(APIView):
    """One action on many IPs: listed (``ips``: addresses) or all matching ``filter`` (as GET /api/v1/ips).
    One audit-log entry per IP that changed; answers a summary."""

    permission_classes = [HasPerm.of(CHANGE)]

    class InputSerializer(serializers.Serializer):
        class FilterSerializer(serializers.Serializer):
            status = serializers.ChoiceField(choices=IpStatus.choices, required=False)
            pool = serializers.CharField(required=False, max_length=20)
            node = serializers.IntegerField(required=False, min_value=1)
            version = serializers.ChoiceField(choices=[4, 6], required=False)
            q = serializers.CharField(required=False, max_length=255)
            ptr_status = serializers.ChoiceField(choices=PtrStatus.choices, required=False)

        ips = serializers.ListField(child=serializers.IPAddressField(), required=False, max_length=10_000)
        filter = FilterSerializer(required=False)
        action = serializers.ChoiceField(choices=ACTIONS)
        pool = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                        help_text="Target pool of assign_pool (null: out of any pool).")  # fmt: skip
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

        def validate(self, data):
            if ("ips" in data) == ("filter" in data):
                raise serializers.ValidationError({"ips": ["ips: give either ips or filter."]})
            if data["action"] == "assign_pool" and "pool" not in data:
                raise serializers.ValidationError({"pool": ["pool: required for assign_pool (null: no pool)."]})
            return data

    class OutputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=ACTIONS)
        pool = serializers.CharField(allow_null=True)
        matched = serializers.IntegerField()
        changed = serializers.IntegerField()
        unchanged = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        pool = None
        if values.get("pool") is not None:
            pool = IpPool.objects.filter(pk=values["pool"]).first()
            if pool is None:
                raise ValidationError({"pool": [f"pool: no pool {values['pool']}."]})
        ips = _selection(values)
        summary = services.ips_bulk_apply(
            ips=ips, action=values["action"], pool=pool, actor=request.user, reason=values["reason"],
            remote_addr=client_address(request.META),
        )  # fmt: skip
        return Response(self.OutputSerializer(summary).data)


def _selection(values: dict):
    """The IPs named (``ips``: addresses, all known) or matching ``filter``; 400 naming the field."""
    if "filter" in values:
        try:
            return ip_queryset(parse_ip_filters(values["filter"]))
        except DjangoValidationError as exc:
            raise ValidationError({"filter": exc.message_dict}) from None
    wanted = {str(ipaddress.ip_address(a)) for a in values["ips"]}
    ips = SendingIP.objects.filter(address__in=wanted)
    unknown = wanted - set(ips.values_list("address", flat=True))
    if unknown:
        raise ValidationError({"ips": [f"ips: unknown sending IP(s): {', '.join(sorted(unknown)[:10])}."]})
    return ips


class IpPtrCheckApi(APIView):
    """Check the PTR of sending IPs now: listed (``ips``: addresses) or all matching ``filter`` (as
    GET /api/v1/ips). The check runs as a Celery task; each IP's ``ptr``, ``ptr_status`` and
    ``ptr_checked_at`` show its outcome, and each change is audited."""

    permission_classes = [HasPerm.of(CHANGE)]

    class InputSerializer(serializers.Serializer):
        ips = serializers.ListField(child=serializers.IPAddressField(), required=False, max_length=10_000)
        filter = IpBulkApi.InputSerializer.FilterSerializer(required=False)

        def validate(self, data):
            if ("ips" in data) == ("filter" in data):
                raise serializers.ValidationError({"ips": ["ips: give either ips or filter."]})
            return data

    class OutputSerializer(serializers.Serializer):
        queued = serializers.IntegerField(help_text="IPs whose check was queued.")

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ips = _selection(data.validated_data)
        queued = ips_ptr_check_request(ips=ips, actor=request.user, remote_addr=client_address(request.META))
        return Response(self.OutputSerializer(queued).data, status=202)


class IpRangeApi(APIView):
    """Add the usable addresses of a CIDR range (preview with ``dry_run``): IPv4 /8–/32 (network and
    broadcast left out up to /30; /31, /32 per RFC 3021), IPv6 /64–/128, at most 1,000; addresses
    already known are reported and skipped."""

    permission_classes = [HasPerm.of(ADD)]

    class InputSerializer(serializers.Serializer):
        cidr = serializers.CharField(max_length=64)
        node = serializers.IntegerField(required=False, allow_null=True, min_value=1)
        pool = serializers.IntegerField(required=False, allow_null=True, min_value=1)
        subnet_label = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
        dry_run = serializers.BooleanField(required=False, default=False)

    class OutputSerializer(serializers.Serializer):
        cidr = serializers.CharField()
        version = serializers.IntegerField()
        usable = serializers.IntegerField()
        count = serializers.IntegerField(help_text="New addresses (added, or to add on a dry run).")
        first = serializers.ListField(child=serializers.IPAddressField(), help_text="The first 10 new addresses.")
        existing_count = serializers.IntegerField()
        existing = serializers.ListField(child=serializers.IPAddressField(), help_text="The first 10 known ones.")
        dry_run = serializers.BooleanField()
        created = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, 201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        rows = {"node": _row(Node, values.get("node"), "node"), "pool": _row(IpPool, values.get("pool"), "pool")}
        try:
            result = services.ips_add_range(
                cidr=values["cidr"], subnet_label=values["subnet_label"], dry_run=values["dry_run"],
                actor=request.user, remote_addr=client_address(request.META), **rows,
            )  # fmt: skip
        except RangeError as exc:
            raise ValidationError({"cidr": [str(exc)]}) from None
        return Response(self.OutputSerializer(result).data, status=200 if values["dry_run"] else 201)


def _row(model, pk: int | None, field: str):
    if pk is None:
        return None
    row = model.objects.filter(pk=pk).first()
    if row is None:
        raise ValidationError({field: [f"{field}: no {field} {pk}."]})
    return row


class IpWarmupApi(APIView):
    """Start, move or end one IP's warmup: ``schedule`` (name; null ends it), sending ``day`` (1 = first)
    and optionally a ``daily_limit`` other than the schedule's for that day."""

    permission_classes = [HasPerm.of(CHANGE)]

    class InputSerializer(serializers.Serializer):
        schedule = serializers.CharField(allow_null=True, max_length=64)
        day = serializers.IntegerField(required=False, min_value=1, max_value=10_000, default=1)
        started_on = serializers.DateField(required=False, allow_null=True, default=None)
        daily_limit = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**31 - 1)
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    @extend_schema(request=InputSerializer, responses=IpSerializer)
    def put(self, request, ip: str):
        sending_ip = _sending_ip(ip)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        schedule = None
        if values["schedule"] is not None:
            schedule = WarmupSchedule.objects.filter(name=values["schedule"]).first()
            if schedule is None:
                names = ", ".join(WarmupSchedule.objects.values_list("name", flat=True))
                raise ValidationError({"schedule": [f"schedule: no schedule {values['schedule']!r} (have: {names})."]})
        limit = values.get("daily_limit", UNSET)
        try:
            ip_warmup_set(
                ip=sending_ip, schedule=schedule, day=values["day"], started_on=values["started_on"], daily_limit=limit,
                actor=request.user, reason=values["reason"], remote_addr=client_address(request.META),
            )  # fmt: skip
        except DjangoValidationError as exc:
            raise _drf(exc) from None
        return Response(IpSerializer(sending_ip).data)


def _sending_ip(address: str) -> SendingIP:
    try:
        normal = str(ipaddress.ip_address(address))
    except ValueError:
        raise NotFound("not an IP address") from None
    ip = SendingIP.objects.select_related("node", "pool", "warmup_schedule").filter(address=normal).first()
    if ip is None:
        raise NotFound("no such sending IP")
    return ip
