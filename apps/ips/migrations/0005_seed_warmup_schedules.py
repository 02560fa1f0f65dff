"""The two warmup curves every install starts with (admins may edit or add others)."""

from django.db import migrations

DEFAULT = [
    50, 100, 200, 400, 700, 1000, 1500, 2000, 3000, 4000, 5000, 6500, 8000, 10000, 12500,
    15000, 18000, 21000, 25000, 30000, 35000, 40000, 50000, 60000, 70000, 80000, 90000, 100000, 125000, 150000,
]  # fmt: skip
CONSERVATIVE = [
    20, 24, 29, 36, 43, 53, 64, 78, 94, 110, 140, 170, 200, 250, 300, 360, 440, 540, 650, 790, 960, 1200, 1400,
    1700, 2100, 2500, 3100, 3700, 4500, 5500, 6700, 8100, 9800, 12000, 14000, 18000, 21000, 26000, 31000, 38000,
    46000, 56000, 68000, 82000, 100000,
]  # fmt: skip


def seed(apps, schema_editor):
    schedule = apps.get_model("ips", "WarmupSchedule")
    schedule.objects.get_or_create(name="default", defaults={
        "limits": DEFAULT, "is_default": True,
        "description": "Full volume (150,000/day) after 30 sending days, roughly doubling early on.",
    })  # fmt: skip
    schedule.objects.get_or_create(name="conservative", defaults={
        "limits": CONSERVATIVE,
        "description": "For a fresh IP range or a domain with little history: 100,000/day after 45 sending days.",
    })  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("ips", "0004_warmup_schedule")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
