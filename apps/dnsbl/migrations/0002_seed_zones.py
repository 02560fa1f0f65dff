"""Seed the zone registry. SORBS closed in June 2024 and is deliberately absent."""

from django.db import migrations

ZEN = {
    "127.0.0.2": "SBL: Spamhaus Block List (spam source)",
    "127.0.0.3": "CSS: Spamhaus snowshoe / low-reputation sender",
    "127.0.0.4": "XBL: exploited host (CBL)",
    "127.0.0.5": "XBL: exploited host",
    "127.0.0.6": "XBL: exploited host",
    "127.0.0.7": "XBL: exploited host",
    "127.0.0.9": "DROP: hijacked netblock (Don't Route Or Peer)",
    "127.0.0.10": "PBL: ISP-maintained policy list (should not send directly)",
    "127.0.0.11": "PBL: Spamhaus-maintained policy list (should not send directly)",
}
DBL = {
    "127.0.1.2": "DBL: spam domain",
    "127.0.1.4": "DBL: phishing domain",
    "127.0.1.5": "DBL: malware domain",
    "127.0.1.6": "DBL: botnet C&C domain",
    "127.0.1.102": "DBL: abused legitimate spammed domain",
    "127.0.1.103": "DBL: abused legitimate spammed redirector",
    "127.0.1.104": "DBL: abused legitimate phishing domain",
    "127.0.1.105": "DBL: abused legitimate malware domain",
    "127.0.1.106": "DBL: abused legitimate botnet C&C domain",
}
MAILSPIKE = {
    "127.0.0.2": "Mailspike: blacklisted",
    "127.0.0.10": "Mailspike: worst possible reputation (L5)",
    "127.0.0.11": "Mailspike: very bad reputation (L4)",
    "127.0.0.12": "Mailspike: bad reputation (L3)",
    "127.0.0.13": "Mailspike: suspicious reputation (L2)",
    "127.0.0.14": "Mailspike: neutral, probably spam (L1)",
}
ZONES = [
    dict(name="zen.spamhaus.org", label="Spamhaus ZEN", kind="ip", weight=40, may_pause=True, codes=ZEN,
         dqs_zone="zen.dq.spamhaus.net"),
    dict(name="dbl.spamhaus.org", label="Spamhaus DBL", kind="domain", weight=30, may_pause=False, codes=DBL,
         dqs_zone="dbl.dq.spamhaus.net", canary_listed="dbltest.com", canary_clean="invalid"),
    dict(name="b.barracudacentral.org", label="Barracuda BRBL", kind="ip", weight=25, may_pause=True,
         codes={"127.0.0.2": "Barracuda Reputation Block List"}),
    dict(name="bl.spamcop.net", label="SpamCop", kind="ip", weight=25, may_pause=True,
         codes={"127.0.0.2": "SpamCop: reported spam source"}),
    dict(name="psbl.surriel.com", label="PSBL", kind="ip", weight=10, may_pause=False,
         codes={"127.0.0.2": "PSBL: spam trap hits"}),
    dict(name="bl.mailspike.net", label="Mailspike", kind="ip", weight=10, may_pause=False, codes=MAILSPIKE),
    dict(name="dnsbl-1.uceprotect.net", label="UCEPROTECT level 1", kind="ip", weight=5, may_pause=False,
         codes={"127.0.0.2": "UCEPROTECT level 1: this IP (informational)"}),
    dict(name="dnsbl-2.uceprotect.net", label="UCEPROTECT level 2", kind="ip", weight=2, may_pause=False,
         codes={"127.0.0.2": "UCEPROTECT level 2: the IP's allocation (informational)"}),
    dict(name="dnsbl-3.uceprotect.net", label="UCEPROTECT level 3", kind="ip", weight=1, may_pause=False,
         codes={"127.0.0.2": "UCEPROTECT level 3: the IP's ASN (informational)"}),
]


def seed(apps, schema_editor):
    Zone = apps.get_model("dnsbl", "DnsblZone")
    for zone in ZONES:
        Zone.objects.update_or_create(name=zone["name"], defaults={k: v for k, v in zone.items() if k != "name"})


def unseed(apps, schema_editor):
    apps.get_model("dnsbl", "DnsblZone").objects.filter(name__in=[z["name"] for z in ZONES]).delete()


class Migration(migrations.Migration):
    dependencies = [("dnsbl", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
