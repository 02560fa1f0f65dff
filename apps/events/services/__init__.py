"""Event ingestion services, in two halves that run in different processes.

* :mod:`.inbox`: the API's hot path, accepting a validated batch into the inbox (one
  INSERT; the 202 means it is committed) and scheduling its processing;
* :mod:`.storage`: the Celery worker, moving inbox batches into the events table and
  the rollups in one transaction each.
"""

from __future__ import annotations

from .inbox import (
    InboxFull,
    PreparedBatch,
    bounce_rules_cache_clear,
    bounce_rules_current,
    inbox_backlog,
    ingest_batch_create,
    ingest_prepare,
)
from .storage import BatchStoreError, StoreResult, inbox_drain, ingest_batches_store

__all__ = [
    "BatchStoreError",
    "InboxFull",
    "PreparedBatch",
    "StoreResult",
    "bounce_rules_cache_clear",
    "bounce_rules_current",
    "inbox_backlog",
    "inbox_drain",
    "ingest_batch_create",
    "ingest_batches_store",
    "ingest_prepare",
]
