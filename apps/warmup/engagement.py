"""IMAP engagement (optional, for mailboxes with IMAP settings): find warmup mail in the spam
folder, move it to the inbox and mark it read; count inbox vs spam placement per day."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import ssl

from django.conf import settings
from django.utils import timezone

from .content import HEADER
from .models import WarmupMailbox
from .services import day_counts_add

log = logging.getLogger(__name__)
SPAM_NAMES = ("junk", "spam", "[gmail]/spam", "junk e-mail", "bulk mail")
LIST_RE = re.compile(rb'\((?P<flags>[^)]*)\) "?(?P<sep>[^"]*)"? (?P<name>.+)')


def _connect(mailbox: WarmupMailbox) -> imaplib.IMAP4:
    timeout = settings.MAILMON_WARMUP_SMTP_TIMEOUT
    if mailbox.imap_security == "tls":
        client = imaplib.IMAP4_SSL(mailbox.imap_host, mailbox.imap_port, ssl_context=ssl.create_default_context(),
                                   timeout=timeout)
    else:
        client = imaplib.IMAP4(mailbox.imap_host, mailbox.imap_port, timeout=timeout)
        if mailbox.imap_security == "starttls":
            client.starttls(ssl_context=ssl.create_default_context())
    client.login(mailbox.imap_username or mailbox.username, mailbox.imap_password or mailbox.password)
    return client


def spam_folder(client: imaplib.IMAP4) -> str | None:
    _, lines = client.list()
    for line in lines or []:
        match = LIST_RE.match(line or b"")
        if not match:
            continue
        name = match["name"].decode(errors="replace").strip('"')
        if b"\\Junk" in match["flags"] or name.lower() in SPAM_NAMES:
            return name
    return None


def _warmup_uids(client: imaplib.IMAP4, folder: str, unseen_only: bool) -> list[bytes]:
    status, _ = client.select(f'"{folder}"')
    if status != "OK":
        return []
    criteria = ["HEADER", HEADER, ""] + (["UNSEEN"] if unseen_only else [])
    _, data = client.uid("SEARCH", *criteria)
    return (data[0] or b"").split()


def mailbox_engage(*, mailbox_id: int) -> dict:
    mailbox = WarmupMailbox.objects.get(pk=mailbox_id)
    counts = {"inbox": 0, "spam": 0}
    try:
        client = _connect(mailbox)
    except (imaplib.IMAP4.error, OSError) as exc:
        log.warning("warmup engagement: cannot log in to IMAP for %s: %s", mailbox.address, type(exc).__name__)
        return counts
    try:
        folder = spam_folder(client)
        if folder:
            uids = _warmup_uids(client, folder, unseen_only=False)
            counts["spam"] = len(uids)
            for uid in uids:
                client.uid("COPY", uid, "INBOX")
                client.uid("STORE", uid, "+FLAGS", r"(\Deleted)")
            client.expunge()
        uids = _warmup_uids(client, "INBOX", unseen_only=True)
        counts["inbox"] = len(uids) - counts["spam"]
        for uid in uids:
            client.uid("STORE", uid, "+FLAGS", r"(\Seen)")
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    counts["inbox"] = max(0, counts["inbox"])
    day_counts_add(mailbox_id=mailbox.pk, day=timezone.now().date(), **counts)
    return counts
