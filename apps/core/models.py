"""Shared models: the operator audit log and the agents' API keys."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager

from .agent_limits import validate_rate_limit


class AuditLog(models.Model):
    """One operator action: who did what to which object, with before/after state."""

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="Username, API key name or 'system'.")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=100, db_index=True, help_text="app_label.model")
    object_id = models.CharField(max_length=255, blank=True)  # agent key ids are prefix.hash (~90 chars)
    object_repr = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-time"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"


def validate_cidr(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValidationError(f"{value!r} is not an IPv4/IPv6 address or CIDR range") from exc


class AgentAPIKeyManager(APIKeyManager):
    def get_from_key_any(self, key: str) -> AgentAPIKey:
        """The key matching ``key`` whether revoked or not (so that callers can say which);
        raises DoesNotExist for unknown or wrong keys."""
        prefix, _, _ = key.partition(".")
        api_key = self.select_related("node").filter(prefix=prefix).first()
        if api_key is None or not api_key.is_valid(key):
            raise self.model.DoesNotExist("Unknown API key.")
        return api_key


class AgentAPIKey(AbstractAPIKey):
    """An API key for agents and MTAs: hashed at rest, optionally bound to a node and CIDRs."""

    node = models.ForeignKey(
        "nodes.Node",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text="Scope: the one node this key speaks for; empty means fleet-wide.",
    )
    allowed_cidrs = ArrayField(
        models.CharField(max_length=64, validators=[validate_cidr]),
        default=list,
        blank=True,
        help_text="Addresses allowed to use this key (CIDR, comma-separated); empty allows any.",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    max_nodes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most nodes this key may register automatically; empty: MAILMON_NODES_PER_KEY."
    )
    new_nodes_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most new hostnames per minute this key may register; empty: "
        "MAILMON_NEW_NODES_PER_MINUTE."
    )
    require_node_approval = models.BooleanField(
        default=False,
        help_text="Nodes this key registers wait for an admin's approval (MAILMON_NODE_APPROVAL_REQUIRED does "
        "this for every key).",
    )
    rate_limit = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_rate_limit],
        help_text="Requests this key may make, e.g. 20/second or 1200/minute (429 + Retry-After beyond); "
        "empty: the MAILMON_AGENT_RATE_LIMIT default.",
    )

    objects = AgentAPIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "agent API key"
        verbose_name_plural = "agent API keys"

    def allows_address(self, address: str | None) -> bool:
        if not self.allowed_cidrs:
            return True
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in self.allowed_cidrs)

    def node_cap(self) -> int:
        return self.max_nodes if self.max_nodes is not None else settings.MAILMON_NODES_PER_KEY

    def new_node_rate(self) -> int:
        rate = self.new_nodes_per_minute
        return rate if rate is not None else settings.MAILMON_NEW_NODES_PER_MINUTE

    @property
    def scope(self) -> str:
        return self.node.hostname if self.node_id else "fleet"
