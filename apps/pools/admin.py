from django.contrib import admin
from django.db.models import Count

from apps.core.admin import AuditedModelAdmin

from .models import IpPool


@admin.register(IpPool)
class IpPoolAdmin(AuditedModelAdmin):
    list_display = ["name", "type", "ip_count", "description"]
    list_filter = ["type"]
    search_fields = ["name", "description"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_ips=Count("ips"))

    @admin.display(description="IPs", ordering="n_ips")
    def ip_count(self, obj) -> int:
        return obj.n_ips
