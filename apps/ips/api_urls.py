from django.urls import path

from .api import IpBulkApi, IpListApi, IpRangeApi, IpWarmupApi, MtaPoolsApi

urlpatterns = [
    path("mta/pools", MtaPoolsApi.as_view(), name="api-mta-pools"),
    path("ips", IpListApi.as_view(), name="api-ips-list"),
    path("ips/bulk", IpBulkApi.as_view(), name="api-ips-bulk"),
    path("ips/range", IpRangeApi.as_view(), name="api-ips-range"),
    path("ips/<str:ip>/warmup", IpWarmupApi.as_view(), name="api-ips-warmup"),
]
