"""Rollups of delivery events at 5 minutes, 1 hour and 1 day (see apps/events/rollups.py)."""

__all__: list[str] = []
