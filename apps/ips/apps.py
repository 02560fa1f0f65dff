from django.apps import AppConfig


class IpsConfig(AppConfig):
    name = "apps.ips"
    label = "ips"

    def ready(self) -> None:
        from apps.core.navigation import nav_register

        nav_register(label="Sending IPs", url_name="ips-index", order=40, permission="ips.view_sendingip")
