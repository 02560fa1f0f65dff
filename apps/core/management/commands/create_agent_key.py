"""Create an agent API key and print it once (for scripted provisioning)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.core.audit import audit_record
from apps.core.models import AgentAPIKey, validate_cidr


class Command(BaseCommand):
    help = "Create an agent API key; the key is printed once and stored only hashed."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--node", metavar="HOSTNAME", help="Scope the key to this node (default: fleet-wide).")
        parser.add_argument(
            "--allow", metavar="CIDR", action="append", default=[], help="Allowed source range; repeat."
        )

    def handle(self, *args, name: str, node: str | None, allow: list[str], **options):
        for cidr in allow:
            try:
                validate_cidr(cidr)
            except ValidationError as exc:
                raise CommandError(f"--allow: {exc.messages[0]}") from exc
        node_obj = None
        if node:
            Node = AgentAPIKey._meta.get_field("node").related_model  # core imports no module app
            node_obj = Node._default_manager.filter(hostname=node).first()
            if node_obj is None:
                raise CommandError(f"--node: no node with hostname {node!r}")
        key_obj, key = AgentAPIKey.objects.create_key(name=name, node=node_obj, allowed_cidrs=allow)
        audit_record(actor=None, action="api_key.create", obj=key_obj, after={"node": node, "allowed_cidrs": allow})
        self.stdout.write(key)
