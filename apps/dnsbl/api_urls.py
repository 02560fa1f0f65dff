from django.urls import path

from .api import CheckApi, IpHistoryApi, ListingListApi

urlpatterns = [
    path("dnsbl/listings", ListingListApi.as_view(), name="api-dnsbl-listings"),
    path("dnsbl/ips/<str:ip>/history", IpHistoryApi.as_view(), name="api-dnsbl-ip-history"),
    path("dnsbl/check", CheckApi.as_view(), name="api-dnsbl-check"),
]
