from django.apps import AppConfig


class WarmupConfig(AppConfig):
    name = "apps.warmup"
    label = "warmup"
