"""Alerts API: rules (+ preview), channels (+ test-send), alerts (+ ack), silences."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.permissions import HasPerm

from . import selectors, services
from .choices import AlertStatus, ChannelKind, Condition, GroupBy, Severity, Source
from .models import Alert, Channel, Rule, Silence, validate_scope

NOT_FOUND = {404: OpenApiResponse(description="No such object.")}
INT_MAX = 2**31 - 1


def _no_nul_keys(value: dict) -> None:
    if any("\x00" in key for key in value):
        raise serializers.ValidationError("NUL characters are not allowed.")


def _labels_field(**kwargs) -> serializers.DictField:
    return serializers.DictField(child=serializers.CharField(max_length=200), validators=[_no_nul_keys], **kwargs)


def _service_call(call, **kwargs):
    """Run a service; model validation errors become a 400 naming the fields."""
    try:
        return call(**kwargs)
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        raise serializers.ValidationError(detail) from exc


# --- rules ---


class RuleOutputSerializer(serializers.ModelSerializer):
    channels = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    firing = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Rule
        fields = ["id", "name", "source", "condition", "threshold", "for_seconds", "window_seconds", "min_volume",
                  "severity", "scope", "group_by", "labels", "hysteresis", "resolve_seconds", "enabled", "channels",
                  "firing", "created_at", "updated_at"]


class RuleInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    source = serializers.ChoiceField(choices=Source.choices)
    condition = serializers.ChoiceField(choices=Condition.choices)
    threshold = serializers.FloatField(min_value=-1e15, max_value=1e15)
    for_seconds = serializers.IntegerField(min_value=0, max_value=30 * 86400, default=0)
    window_seconds = serializers.IntegerField(min_value=60, max_value=30 * 86400, default=900)
    min_volume = serializers.IntegerField(min_value=0, max_value=INT_MAX, default=0)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.WARNING)
    scope = serializers.CharField(max_length=300, default="fleet", validators=[validate_scope])
    group_by = serializers.ChoiceField(choices=GroupBy.choices, default="", allow_blank=True)
    labels = _labels_field(default=dict)
    hysteresis = serializers.FloatField(min_value=0, max_value=1e15, default=0)
    resolve_seconds = serializers.IntegerField(min_value=0, max_value=30 * 86400, default=60)
    enabled = serializers.BooleanField(default=True)
    channels = serializers.PrimaryKeyRelatedField(many=True, queryset=Channel.objects.all(), default=list)


def _rule_save(request, rule: Rule | None) -> Rule:
    data = RuleInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    fields = dict(data.validated_data)
    channels = fields.pop("channels")
    duplicate = Rule.objects.filter(name=fields["name"]).exclude(pk=getattr(rule, "pk", None)).exists()
    if duplicate:
        raise serializers.ValidationError({"name": ["A rule with this name exists."]})
    return _service_call(services.rule_save, rule=rule, actor=request.user, channels=channels, **fields)


class RuleListApi(ListAPIView):
    """Every rule, with how many of its alerts fire now. POST creates one."""

    serializer_class = RuleOutputSerializer
    queryset = Rule.objects.none()

    def get_queryset(self):
        return selectors.rule_list()

    @extend_schema(request=RuleInputSerializer, responses={201: RuleOutputSerializer})
    def post(self, request):
        rule = _rule_save(request, None)
        return Response(RuleOutputSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailApi(APIView):
    """One rule: read, replace (PUT, the whole rule), delete (with its alert history)."""

    queryset = Rule.objects.none()

    @extend_schema(responses={200: RuleOutputSerializer, **NOT_FOUND})
    def get(self, request, id: int):
        return Response(RuleOutputSerializer(get_object_or_404(selectors.rule_list(), pk=id)).data)

    @extend_schema(request=RuleInputSerializer, responses={200: RuleOutputSerializer, **NOT_FOUND})
    def put(self, request, id: int):
        rule = _rule_save(request, get_object_or_404(Rule, pk=id))
        return Response(RuleOutputSerializer(rule).data)

    @extend_schema(responses={204: None, **NOT_FOUND})
    def delete(self, request, id: int):
        services.rule_delete(rule=get_object_or_404(Rule, pk=id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RulePreviewApi(APIView):
    """Evaluate the rule now against current data, changing nothing: the subjects it would fire on
    (ignoring its for-duration)."""

    permission_classes = [HasPerm.of("alerts.view_rule")]

    class OutputSerializer(serializers.Serializer):
        class MatchSerializer(serializers.Serializer):
            subject = serializers.CharField()
            value = serializers.FloatField()
            volume = serializers.IntegerField(allow_null=True)

        subjects = serializers.IntegerField(help_text="Subjects in scope with current data.")
        matching = MatchSerializer(many=True)
        note = serializers.CharField()

    @extend_schema(request=None, responses={200: OutputSerializer, **NOT_FOUND})
    def post(self, request, id: int):
        rule = get_object_or_404(Rule, pk=id)
        return Response(self.OutputSerializer(services.rule_preview(rule=rule)).data)


# --- channels ---


class ChannelOutputSerializer(serializers.ModelSerializer):
    url = serializers.CharField(help_text="Empty for email channels.")
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = ["id", "name", "kind", "url", "to", "enabled", "alertmanager", "has_secret", "failing_since",
                  "last_error", "created_at"]

    def get_has_secret(self, channel: Channel) -> bool:
        return bool(channel.secret)


class ChannelListApi(ListAPIView):
    """Notification channels (secrets are write-only: only ``has_secret`` is shown). POST creates one."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        kind = serializers.ChoiceField(choices=ChannelKind.choices)
        url = serializers.URLField(max_length=500, required=False, default="", allow_blank=True)
        to = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
        secret = serializers.CharField(max_length=1000, required=False, allow_blank=True, write_only=True,
                                       trim_whitespace=False)
        enabled = serializers.BooleanField(default=True)
        alertmanager = serializers.BooleanField(default=False)

    serializer_class = ChannelOutputSerializer
    queryset = Channel.objects.none()

    def get_queryset(self):
        return selectors.channel_list()

    @extend_schema(request=InputSerializer, responses={201: ChannelOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if Channel.objects.filter(name=fields["name"]).exists():
            raise serializers.ValidationError({"name": ["A channel with this name exists."]})
        channel = _service_call(services.channel_save, actor=request.user, **fields)
        return Response(ChannelOutputSerializer(channel).data, status=status.HTTP_201_CREATED)


class ChannelTestApi(APIView):
    """Queue a test message through the channel; its delivery shows in the channel's attempts."""

    permission_classes = [HasPerm.of("alerts.change_channel")]

    class OutputSerializer(serializers.Serializer):
        notification = serializers.IntegerField()
        status = serializers.CharField()

    @extend_schema(request=None, responses={202: OutputSerializer, **NOT_FOUND})
    def post(self, request, id: int):
        notification = services.channel_test(channel=get_object_or_404(Channel, pk=id), actor=request.user)
        return Response({"notification": notification.pk, "status": notification.status},
                        status=status.HTTP_202_ACCEPTED)


# --- alerts ---


class AlertOutputSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name")
    state = serializers.CharField(source="status")
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True, default=None)

    class Meta:
        model = Alert
        fields = ["id", "rule", "rule_name", "subject", "state", "severity", "value", "pending_since", "fired_at",
                  "resolved_at", "acknowledged_at", "acknowledged_by", "ack_comment", "notified_at"]


class AlertListApi(ListAPIView):
    """Active and recent alerts, newest first; filter with ?state= and ?severity=."""

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=AlertStatus.choices, required=False)
        severity = serializers.ChoiceField(choices=Severity.choices, required=False)

    serializer_class = AlertOutputSerializer
    queryset = Alert.objects.none()

    @extend_schema(parameters=[OpenApiParameter("state", enum=AlertStatus.values),
                               OpenApiParameter("severity", enum=Severity.values)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.alert_list(**filters.validated_data)


class AlertAckApi(APIView):
    """Acknowledge an alert: it stays listed, but no further notifications are sent for it."""

    permission_classes = [HasPerm.of("alerts.change_alert")]

    class InputSerializer(serializers.Serializer):
        comment = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    @extend_schema(request=InputSerializer, responses={200: AlertOutputSerializer, **NOT_FOUND})
    def post(self, request, id: int):
        alert = get_object_or_404(Alert.objects.select_related("rule"), pk=id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = services.alert_ack(alert=alert, actor=request.user, **data.validated_data)
        return Response(AlertOutputSerializer(alert).data)


# --- silences ---


class SilenceOutputSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", allow_null=True, default=None)
    active = serializers.SerializerMethodField()

    class Meta:
        model = Silence
        fields = ["id", "matchers", "starts_at", "ends_at", "comment", "author", "active", "created_at"]

    def get_active(self, silence: Silence) -> bool:
        return silence.active_at(timezone.now())


class SilenceListApi(ListAPIView):
    """Silences, newest first. POST creates one: ``matchers`` (label → value, ``*`` wildcards),
    ``ends_at``, ``comment``; ``starts_at`` defaults to now."""

    class InputSerializer(serializers.Serializer):
        matchers = _labels_field(allow_empty=False)
        starts_at = serializers.DateTimeField(required=False)
        ends_at = serializers.DateTimeField()
        comment = serializers.CharField(max_length=2000)

    serializer_class = SilenceOutputSerializer
    queryset = Silence.objects.none()

    def get_queryset(self):
        return selectors.silence_list()

    @extend_schema(request=InputSerializer, responses={201: SilenceOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        silence = _service_call(services.silence_create, actor=request.user, **data.validated_data)
        return Response(SilenceOutputSerializer(silence).data, status=status.HTTP_201_CREATED)
