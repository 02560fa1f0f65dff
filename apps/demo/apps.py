from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo-only code: the demo fleet (``load_demo``) and the traffic simulator (``simulate_traffic``).

    Installed unless ``MAILMON_DEMO`` is off (the default in production); no other app imports it.
    """

    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo"
