from django.apps import AppConfig


class IpsConfig(AppConfig):
    name = "apps.ips"
    label = "ips"
