from django.urls import path

from . import api

urlpatterns = [
    path("warmup/mailboxes", api.MailboxListApi.as_view(), name="api-warmup-mailboxes"),
    path("warmup/mailboxes/import", api.MailboxImportApi.as_view(), name="api-warmup-import"),
    path("warmup/mailboxes/<int:pk>", api.MailboxDetailApi.as_view(), name="api-warmup-mailbox-detail"),
    path("warmup/control", api.ControlApi.as_view(), name="api-warmup-control"),
    path("warmup/metrics", api.MetricsApi.as_view(), name="api-warmup-metrics"),
    path("warmup/quota", api.QuotaApi.as_view(), name="api-warmup-quota"),
    path("warmup/mailbox", api.MailboxStatusApi.as_view(), name="api-warmup-mailbox"),
]
