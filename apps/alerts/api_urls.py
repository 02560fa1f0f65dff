from django.urls import path

from . import api

urlpatterns = [
    path("alerts", api.AlertListApi.as_view(), name="api-alerts-list"),
    path("alerts/<int:id>/ack", api.AlertAckApi.as_view(), name="api-alerts-ack"),
    path("alerts/rules", api.RuleListApi.as_view(), name="api-alerts-rules"),
    path("alerts/rules/<int:id>", api.RuleDetailApi.as_view(), name="api-alerts-rule"),
    path("alerts/rules/<int:id>/preview", api.RulePreviewApi.as_view(), name="api-alerts-rule-preview"),
    path("alerts/channels", api.ChannelListApi.as_view(), name="api-alerts-channels"),
    path("alerts/channels/<int:id>/test", api.ChannelTestApi.as_view(), name="api-alerts-channel-test"),
    path("alerts/silences", api.SilenceListApi.as_view(), name="api-alerts-silences"),
]
