from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from .roles import sync_roles

        # Groups need every app's permissions, created by post_migrate app by app: resync each time.
        post_migrate.connect(sync_roles, dispatch_uid="mailmon-sync-roles")

