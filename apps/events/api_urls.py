from django.urls import path

from . import api
from .ingest import EventIngestApi

urlpatterns: list = [
    path("events", api.EventSearchApi.as_view(), name="api-events-search"),
    path("events/ingest", EventIngestApi.as_view(), name="api-events-ingest"),
    path("email/throughput", api.EmailThroughputApi.as_view(), name="api-email-throughput"),
    path("email/stats", api.EmailStatsApi.as_view(), name="api-email-stats"),
    path("email/bounce-analysis", api.EmailBounceAnalysisApi.as_view(), name="api-email-bounce-analysis"),
    path("email/delivery-histogram", api.EmailDeliveryHistogramApi.as_view(), name="api-email-delivery-histogram"),
    path("email/deferred-reasons", api.EmailDeferredReasonsApi.as_view(), name="api-email-deferred-reasons"),
    path("email/destinations", api.EmailDestinationsApi.as_view(), name="api-email-destinations"),
    path("email/queue", api.EmailQueueApi.as_view(), name="api-email-queue"),
]
