"""The ingest inbox: validated batches waiting for a worker (see apps/events/services.py)."""

__all__: list[str] = []
