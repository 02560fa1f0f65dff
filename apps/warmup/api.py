"""Warmup API: mailboxes (CRUD, CSV import), engine control, metrics, quota, mailbox status."""

from __future__ import annotations

from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.permissions import HasPerm
from apps.ips.models import SendingIP

from . import selectors, services
from .choices import MailboxStatus, SmtpSecurity
from .managers import sees_all_mailboxes
from .models import MIN_DAILY_TARGET, WarmupMailbox

VIEW = "warmup.view_warmupmailbox"


class IsWarmupAdmin(BasePermission):
    """Engine control is for admins (superusers and the Admin role) only."""

    def has_permission(self, request, view) -> bool:
        return sees_all_mailboxes(request.user)


@contextmanager
def model_errors_as_400():
    """full_clean() errors become a 400 naming the fields."""
    try:
        yield
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else
                                          {"non_field_errors": exc.messages}) from exc


class CsvParser(BaseParser):
    """A CSV request body, handed over as text."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read()


class MailboxOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    password_set = serializers.SerializerMethodField()
    imap_password_set = serializers.SerializerMethodField()

    class Meta:
        model = WarmupMailbox
        fields = [
            "id", "owner", "address", "smtp_host", "smtp_port", "smtp_security", "username", "password_set",
            "imap_host", "imap_port", "imap_security", "imap_username", "imap_password_set", "enabled",
            "daily_target", "ramp_start", "ramp_increase", "ramp_ceiling", "started_on", "provider", "status",
            "status_reason", "last_error", "last_error_at", "imap_error", "imap_checked_at", "sending_ip",
            "created_at", "updated_at",
        ]

    def get_password_set(self, obj) -> bool:
        return bool(obj.password)

    def get_imap_password_set(self, obj) -> bool:
        return bool(obj.imap_password)


class MailboxInput(serializers.Serializer):
    """Passwords are write-only: omitted or empty on update keeps the stored one."""

    address = serializers.EmailField(max_length=254)
    smtp_host = serializers.CharField(max_length=255)
    smtp_port = serializers.IntegerField(min_value=1, max_value=65535, default=587)
    smtp_security = serializers.ChoiceField(choices=SmtpSecurity.choices, default=SmtpSecurity.STARTTLS)
    username = serializers.CharField(max_length=255, allow_blank=True, default="")
    password = serializers.CharField(write_only=True, allow_blank=True, required=False, max_length=1024,
                                     trim_whitespace=False)
    imap_host = serializers.CharField(max_length=255, allow_blank=True, required=False)
    imap_port = serializers.IntegerField(min_value=1, max_value=65535, required=False, allow_null=True)
    imap_security = serializers.ChoiceField(choices=SmtpSecurity.choices, required=False)
    imap_username = serializers.CharField(max_length=255, allow_blank=True, required=False)
    imap_password = serializers.CharField(write_only=True, allow_blank=True, required=False, max_length=1024,
                                          trim_whitespace=False)
    enabled = serializers.BooleanField(default=True)
    daily_target = serializers.IntegerField(min_value=MIN_DAILY_TARGET, default=MIN_DAILY_TARGET)
    ramp_start = serializers.IntegerField(min_value=0, required=False)
    ramp_increase = serializers.IntegerField(min_value=0, required=False)
    ramp_ceiling = serializers.IntegerField(min_value=0, required=False)
    sending_ip = serializers.PrimaryKeyRelatedField(queryset=SendingIP.objects.all(), required=False,
                                                    allow_null=True)


class MailboxListApi(ListAPIView):
    """Mailboxes you may see (admins: all), newest changes last; POST registers one."""

    serializer_class = MailboxOutput
    queryset = WarmupMailbox.objects.none()  # for the model permission check

    def get_queryset(self):
        return WarmupMailbox.objects.for_user(self.request.user).select_related("owner").order_by("address")

    @extend_schema(request=MailboxInput, responses={201: MailboxOutput})
    def post(self, request):
        data = MailboxInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if not fields.get("password") and fields.get("username"):
            raise serializers.ValidationError({"password": ["required when username is set."]})
        with model_errors_as_400():
            mailbox = services.mailbox_create(owner=request.user, actor=request.user, **fields)
        return Response(MailboxOutput(mailbox).data, status=status.HTTP_201_CREATED)


class MailboxDetailApi(APIView):
    queryset = WarmupMailbox.objects.none()

    def _get(self, request, pk: int) -> WarmupMailbox:
        return get_object_or_404(WarmupMailbox.objects.for_user(request.user).select_related("owner"), pk=pk)

    @extend_schema(responses=MailboxOutput)
    def get(self, request, pk: int):
        return Response(MailboxOutput(self._get(request, pk)).data)

    @extend_schema(request=MailboxInput, responses=MailboxOutput)
    def put(self, request, pk: int):
        mailbox = self._get(request, pk)
        data = MailboxInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        with model_errors_as_400():
            mailbox = services.mailbox_update(mailbox=mailbox, actor=request.user, **data.validated_data)
        return Response(MailboxOutput(mailbox).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        services.mailbox_delete(mailbox=self._get(request, pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImportReportSerializer(serializers.Serializer):
    class ErrorSerializer(serializers.Serializer):
        line = serializers.IntegerField()
        address = serializers.CharField()
        field = serializers.CharField()
        error = serializers.CharField()

    rows = serializers.IntegerField()
    created = serializers.ListField(child=serializers.CharField())
    errors = ErrorSerializer(many=True)
    dry_run = serializers.BooleanField()


class MailboxImportApi(APIView):
    """CSV (header row; columns address, smtp_host, smtp_port, smtp_security, username, password,
    daily_target, enabled, imap_*) as a ``file`` upload or a text/csv body. Valid rows are created,
    invalid ones reported by line and field. ``?dry_run=1`` validates only."""

    queryset = WarmupMailbox.objects.none()
    parser_classes = [MultiPartParser, FormParser, CsvParser]
    permission_classes = [HasPerm.of("warmup.add_warmupmailbox")]

    @extend_schema(
        request={"multipart/form-data": {"type": "object", "properties": {"file": {"type": "string",
                                                                                     "format": "binary"}}},
                 "text/csv": OpenApiTypes.STR},
        parameters=[OpenApiParameter("dry_run", bool)],
        responses={201: ImportReportSerializer, 200: ImportReportSerializer, 400: ImportReportSerializer},
    )
    def post(self, request):
        dry_run = request.query_params.get("dry_run", "").lower() in {"1", "true", "yes"}
        try:
            text = _csv_text(request)
        except _UploadRefused as refused:
            error = {"line": 0, "address": "", "field": "file", "error": str(refused)}
            return Response({"rows": 0, "created": [], "errors": [error], "dry_run": dry_run}, status=400)
        with transaction.atomic():
            report = services.mailboxes_import(owner=request.user, actor=request.user, text=text, dry_run=dry_run)
        body = {"rows": report.rows, "created": report.created, "errors": report.errors, "dry_run": dry_run}
        if report.created and not dry_run:
            code = status.HTTP_201_CREATED
        else:
            code = status.HTTP_400_BAD_REQUEST if report.errors else status.HTTP_200_OK
        return Response(body, status=code)


def _csv_text(request) -> str:
    upload = request.FILES.get("file") if hasattr(request, "FILES") else None
    if upload is not None:
        raw = upload.read()
    elif isinstance(request.data, str | bytes):
        raw = request.data
    else:
        raise _UploadRefused("send the CSV as a 'file' upload or a text/csv body.")
    try:
        return raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise _UploadRefused("the CSV must be UTF-8.") from None


class _UploadRefused(Exception):
    """No CSV to read: answered as an import report with one error on ``file`` (one 400 shape)."""


class ControlApi(APIView):
    """Engine status (GET) and control (POST ``{"action": "start" | "stop" | "trigger"}``); admins only."""

    permission_classes = [IsWarmupAdmin]

    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=["start", "stop", "trigger"])

    class OutputSerializer(serializers.Serializer):
        running = serializers.BooleanField()
        changed_by = serializers.CharField()
        changed_at = serializers.DateTimeField(allow_null=True)
        last_cycle_at = serializers.DateTimeField(allow_null=True)
        last_cycle_planned = serializers.IntegerField()
        last_cycle_ms = serializers.IntegerField()
        interval_seconds = serializers.IntegerField()
        limits = serializers.DictField(child=serializers.IntegerField())
        triggered = serializers.BooleanField(required=False)

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(self.OutputSerializer(selectors.engine_status()).data)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        from . import tasks

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        action = data.validated_data["action"]
        if action in ("start", "stop"):
            services.engine_set_running(running=action == "start", actor=request.user)
        else:
            transaction.on_commit(lambda: tasks.plan_cycle.delay(force=True))
        body = {**selectors.engine_status(), "triggered": action == "trigger"}
        return Response(self.OutputSerializer(body).data)


class PrometheusRenderer(renderers.BaseRenderer):
    media_type = "text/plain"
    format = "prometheus"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return selectors.metrics_prometheus(data) if isinstance(data, dict) and "warmup_system_health" in data \
            else str(data)


class MetricsApi(APIView):
    """Warmup figures for the mailboxes you may see; ``?format=prometheus`` as Prometheus text."""

    permission_classes = [HasPerm.of(VIEW)]
    renderer_classes = [renderers.JSONRenderer, PrometheusRenderer]

    class OutputSerializer(serializers.Serializer):
        class FillSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            mailbox = serializers.CharField()
            fill = serializers.FloatField()

        warmup_total_mailboxes = serializers.IntegerField()
        warmup_active_mailboxes = serializers.IntegerField()
        warmup_emails_sent_today = serializers.IntegerField()
        warmup_emails_failed_today = serializers.IntegerField()
        warmup_throughput_per_hour = serializers.IntegerField()
        warmup_quota_completion_rate = serializers.FloatField()
        warmup_system_health = serializers.IntegerField()
        warmup_mailbox_quota_fill = FillSerializer(many=True)

    @extend_schema(responses=OutputSerializer, parameters=[OpenApiParameter("format", enum=["json", "prometheus"])])
    def get(self, request, format=None):  # noqa: A002 - DRF's name
        return Response(selectors.metrics(user=request.user))

    def perform_content_negotiation(self, request, force=False):
        """An unknown ``?format=`` is bad input (400 naming the field), not a missing page."""
        wanted = request.query_params.get("format")
        if not force and wanted is not None and wanted not in ("json", "prometheus"):
            raise serializers.ValidationError({"format": ['expected "json" or "prometheus".']})
        return super().perform_content_negotiation(request, force=force)


class QuotaRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    address = serializers.CharField()
    owner = serializers.CharField()
    provider = serializers.CharField()
    status = serializers.ChoiceField(choices=MailboxStatus.choices)
    enabled = serializers.BooleanField()
    quota = serializers.IntegerField()
    expected_by_now = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    fill = serializers.FloatField()
    behind = serializers.BooleanField()


class QuotaApi(ListAPIView):
    """Today's quota progress per mailbox; ``?status=behind`` lists those under 90 % of their pace."""

    permission_classes = [HasPerm.of(VIEW)]
    serializer_class = QuotaRowSerializer

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["all", "behind"], required=False)

    @extend_schema(parameters=[OpenApiParameter("status", enum=["all", "behind"])])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.quota_rows(user=self.request.user, status=filters.validated_data.get("status"))


class MailboxStatusApi(APIView):
    """One mailbox (``?id=``): settings (no secrets), today's quota, 30 days of history, recent sends
    and errors. Without ``id``: today's quota rows of every mailbox you may see."""

    permission_classes = [HasPerm.of(VIEW)]

    class FilterSerializer(serializers.Serializer):
        id = serializers.IntegerField(required=False, min_value=1)

    class SendSerializer(serializers.Serializer):
        time = serializers.DateTimeField()
        recipient = serializers.CharField()
        recipient_provider = serializers.CharField()
        message_id = serializers.CharField()
        outcome = serializers.CharField()
        smtp_code = serializers.IntegerField(allow_null=True)
        smtp_response = serializers.CharField()
        duration_ms = serializers.IntegerField()
        is_reply = serializers.BooleanField()
        attempt = serializers.IntegerField()

    @extend_schema(
        parameters=[OpenApiParameter("id", int)], responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT}
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        mailbox_id = filters.validated_data.get("id")
        if mailbox_id is None:
            return Response({"results": QuotaRowSerializer(selectors.quota_rows(user=request.user), many=True).data})
        mailbox = get_object_or_404(WarmupMailbox.objects.for_user(request.user).select_related("owner"),
                                    pk=mailbox_id)
        today = selectors.quota_rows(user=request.user, mailbox_ids=[mailbox.pk])[0]
        return Response({
            "mailbox": MailboxOutput(mailbox).data,
            "today": QuotaRowSerializer(today).data,
            "history": selectors.mailbox_history(mailbox=mailbox),
            "recent_sends": self.SendSerializer(selectors.recent_sends(mailbox=mailbox), many=True).data,
            "last_errors": self.SendSerializer(selectors.last_errors(mailbox=mailbox), many=True).data,
        })
