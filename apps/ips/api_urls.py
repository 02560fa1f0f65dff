from django.urls import path

from .api import IpBulkApi, IpListApi, IpPtrCheckApi, IpRangeApi, IpWarmupApi, MtaPoolsApi

urlpatterns = [
    path("mta/pools", MtaPoolsApi.as_view(), name="api-mta-pools"),
    path("ips", IpListApi.as_view(), name="api-ips-list"),
    path("ips/bulk", IpBulkApi.as_view(), name="api-ips-bulk"),
    path("ips/range", IpRangeApi.as_view(), name="api-ips-range"),
    path("ips/ptr/check", IpPtrCheckApi.as_view(), name="api-ips-ptr-check"),
    path("ips/<str:ip>/warmup", IpWarmupApi.as_view(), name="api-ips-warmup"),
]
