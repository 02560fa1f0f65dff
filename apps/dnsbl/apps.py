from django.apps import AppConfig


class DnsblConfig(AppConfig):
    name = "apps.dnsbl"
    label = "dnsbl"

    def ready(self) -> None:
        from apps.core.navigation import nav_register

        nav_register(label="Reputation", url_name="dnsbl-index", order=50, permission="dnsbl.view_dnsblstate")
