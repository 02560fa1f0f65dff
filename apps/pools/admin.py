from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.db.models import Count

from apps.core.netutil import client_address

from . import services
from .models import IpPool


@admin.register(IpPool)
class IpPoolAdmin(admin.ModelAdmin):
    """Pools are written through apps.pools.services, which validate and audit."""

    list_display = ["name", "type", "ip_count", "description"]
    list_filter = ["type"]
    search_fields = ["name", "description"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_ips=Count("ips"))

    @admin.display(description="IPs", ordering="n_ips")
    def ip_count(self, obj) -> int:
        return obj.n_ips

    def save_model(self, request, obj, form, change):
        who = {"actor": request.user, "remote_addr": client_address(request.META)}
        fields = {f: form.cleaned_data[f] for f in services.EDITABLE if f in form.cleaned_data}
        if change:
            stored = IpPool.objects.get(pk=obj.pk)
            services.pool_update(pool=stored, **who, **{f: fields[f] for f in form.changed_data if f in fields})
        else:
            obj.pk = services.pool_create(**who, **fields).pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.pool_delete(pool=obj, actor=request.user, remote_addr=client_address(request.META))

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for pool in queryset:
                self.delete_model(request, pool)
