from django.apps import AppConfig


class PoolsConfig(AppConfig):
    name = "apps.pools"
    label = "pools"

    def ready(self) -> None:
        from apps.core.navigation import nav_register

        nav_register(label="Pools", url_name="pools-index", order=45, permission="pools.view_ippool")
