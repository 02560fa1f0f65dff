from django.apps import AppConfig


class WarmupConfig(AppConfig):
    name = "apps.warmup"
    label = "warmup"

    def ready(self) -> None:
        from apps.core.navigation import nav_register

        nav_register(label="Warmup", url_name="warmup-index", order=60, permission="warmup.view_warmupmailbox")
