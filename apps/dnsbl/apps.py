from django.apps import AppConfig


class DnsblConfig(AppConfig):
    name = "apps.dnsbl"
    label = "dnsbl"
