"""Pools group sending IPs by the kind of mail they carry."""

from __future__ import annotations

from django.db import models

from .choices import PoolType


class IpPool(models.Model):
    """A named group of sending IPs for one kind of mail (transactional, marketing, …)."""

    name = models.SlugField(max_length=64, unique=True)
    type = models.CharField(max_length=16, choices=PoolType.choices, default=PoolType.GENERAL)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "IP pool"

    def __str__(self) -> str:
        return self.name
