from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core import timeseries
        from apps.core.health import QUEUE_DEPTHS
        from apps.core.navigation import nav_register

        from .models import EmailEvent
        from .services import inbox_backlog

        timeseries.TABLES[EmailEvent._meta.db_table] = lambda: settings.MAILMON_EVENTS_RETENTION_DAYS

        # Events accepted by the ingest API and not yet stored (/metrics, /health).
        QUEUE_DEPTHS["events_inbox"] = inbox_backlog

        pages = [("Email flow", "events-flow"), ("Performance", "events-performance"), ("Queue", "events-queue"),
                 ("Bounces", "events-bounces"), ("Destinations", "events-destinations"), ("Events", "events-search")]
        for order, (label, url_name) in enumerate(pages, start=20):
            nav_register(label=label, url_name=url_name, order=order, permission="events.view_emailevent")
