from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"

    def ready(self) -> None:
        from apps.core.health import QUEUE_DEPTHS

        from .services import inbox_backlog

        # Events accepted by the ingest API and not yet stored (/metrics, /health).
        QUEUE_DEPTHS["events_inbox"] = inbox_backlog
