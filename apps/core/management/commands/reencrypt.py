"""Re-encrypt every encrypted field with the first key of MAILMON_FIELD_KEYS (key rotation)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.core.fields import reencrypt_all


class Command(BaseCommand):
    help = (
        "Rewrite every stored secret under the first key in MAILMON_FIELD_KEYS. Rotation: put the new key "
        "first (keep the old ones after it), run this, then remove the old keys."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, **options):
        counts = reencrypt_all(batch_size=batch_size)
        for label, n in counts.items():
            self.stdout.write(f"{label}: {n} rows re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"done: {sum(counts.values())} rows"))
