"""The ingest inbox: validated batches waiting for a worker (see apps/events/services/)."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

__all__: list[str] = ["IngestBatch"]


class IngestBatch(models.Model):
    """One accepted ``POST /api/v1/events/ingest`` body, durable until a worker stores it.

    ``payload`` holds the already validated and classified events as PostgreSQL COPY
    text (one line per event, columns in ``services.STAGING_COLUMNS`` order), so the
    worker streams it into a staging table without parsing anything in Python.
    ``nodes`` and ``days`` are the batch's distinct node hostnames and UTC days, so
    the worker registers nodes and creates partitions without reading the payload.
    """

    received_at = models.DateTimeField(db_default=Now())
    events = models.PositiveIntegerField()
    nodes = ArrayField(models.CharField(max_length=255), default=list)
    days = ArrayField(models.DateField(), default=list)
    payload = models.BinaryField()

    class Meta:
        verbose_name = "ingest batch"
        verbose_name_plural = "ingest batches"

    def __str__(self) -> str:
        return f"batch {self.pk}: {self.events} events"
