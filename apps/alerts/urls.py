from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="alerts-index"),
    path("history/", views.history, name="alerts-history"),
    path("<int:pk>/ack", views.ack, name="alerts-ack"),
    path("<int:pk>/silence", views.silence_alert, name="alerts-silence"),
    path("rules/", views.rules, name="alerts-rules"),
    path("rules/<int:pk>/", views.rules, name="alerts-rule"),
    path("rules/<int:pk>/preview", views.rule_preview, name="alerts-rule-preview"),
    path("channels/", views.channels, name="alerts-channels"),
    path("channels/<int:pk>/test", views.channel_test, name="alerts-channel-test"),
    path("silences/", views.silences, name="alerts-silences"),
    path("silences/<int:pk>/expire", views.silence_expire, name="alerts-silence-expire"),
]
