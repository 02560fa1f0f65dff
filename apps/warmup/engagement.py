"""IMAP engagement (optional, for mailboxes with IMAP settings): find warmup mail in the spam
folder, mark it read and move it to the inbox; mark warmup mail already in the inbox read; count
inbox vs spam placement in the recipient's day. A failure (connection, TLS, login, a server
error) is recorded on the mailbox (``imap_error``) and never raised: engagement is optional and
the next run tries again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from .content import HEADER
from .models import WarmupMailbox
from .services import day_counts_add, mailbox_imap_checked

log = logging.getLogger(__name__)
SPAM_NAMES = frozenset({"junk", "spam", "junk e-mail", "junk email", "bulk mail", "bulk", "spam mail"})
LIST_RE = re.compile(rb'\((?P<flags>[^)]*)\) (?P<sep>NIL|"(?:[^"\\]|\\.)*") ?(?P<name>.*)$', re.IGNORECASE)
SEARCH_DAYS = 7  # warmup mail of the last week: bounded work for the server in a large mailbox
UID_BATCH = 500  # UIDs per command


class EngagementError(Exception):
    """Why engagement could not run, in words for the mailbox page (never the password)."""


@dataclass(frozen=True)
class Folder:
    name: bytes  # as the server spells it (modified UTF-7), for SELECT
    flags: frozenset[str]
    delimiter: str


def _unquote(raw: bytes) -> bytes:
    if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
        return re.sub(rb"\\(.)", rb"\1", raw[1:-1])
    return raw


def _quote(name: bytes) -> str:
    text = name.decode("ascii", errors="replace")  # modified UTF-7 is ASCII
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_list(lines: list) -> list[Folder]:
    """``LIST`` answers → folders; imaplib hands a literal name as a ``(prefix, name)`` tuple."""
    folders = []
    for line in lines or []:
        literal = None
        if isinstance(line, tuple):
            line, literal = line[0], line[1]
        match = LIST_RE.match(line or b"")
        if not match:
            continue
        sep = match["sep"]
        delimiter = "" if sep.upper() == b"NIL" else _unquote(sep).decode(errors="replace")
        name = literal if literal is not None else _unquote(match["name"].strip())
        flags = frozenset(flag.lower() for flag in match["flags"].decode(errors="replace").split())
        folders.append(Folder(name, flags, delimiter))
    return folders


def spam_folder(folders: list[Folder]) -> Folder | None:
    """The folder flagged ``\\Junk`` (RFC 6154), else one with a usual spam name (the last
    part of its path: ``[Gmail]/Spam``, ``INBOX.Junk``)."""
    for folder in folders:
        if "\\junk" in folder.flags and "\\noselect" not in folder.flags:
            return folder
    for folder in folders:
        leaf = folder.name.decode(errors="replace")
        if folder.delimiter:
            leaf = leaf.rsplit(folder.delimiter, 1)[-1]
        if leaf.lower() in SPAM_NAMES and "\\noselect" not in folder.flags:
            return folder
    return None


def _connect(mailbox: WarmupMailbox) -> imaplib.IMAP4:
    timeout = settings.MAILMON_WARMUP_SMTP_TIMEOUT
    where = f"{mailbox.imap_host}:{mailbox.imap_port}"
    try:
        if mailbox.imap_security == "tls":
            client = imaplib.IMAP4_SSL(mailbox.imap_host, mailbox.imap_port, ssl_context=ssl.create_default_context(),
                                       timeout=timeout)
        else:
            client = imaplib.IMAP4(mailbox.imap_host, mailbox.imap_port, timeout=timeout)
            if mailbox.imap_security == "starttls":
                client.starttls(ssl_context=ssl.create_default_context())
    except ssl.SSLError as exc:
        raise EngagementError(f"IMAP TLS with {where} failed: {exc}") from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise EngagementError(f"cannot connect to IMAP server {where}: {_reason(exc)}") from None
    try:
        client.login(mailbox.imap_username or mailbox.username, mailbox.imap_password or mailbox.password)
    except (OSError, imaplib.IMAP4.error) as exc:
        _logout(client)
        raise EngagementError(f"IMAP login to {where} failed: {_reason(exc)}") from None
    return client


def _reason(exc: Exception) -> str:
    """The server's words (imaplib hands them over as bytes), or the socket error."""
    if isinstance(exc, imaplib.IMAP4.error) and exc.args:
        value = exc.args[0]
        return (value.decode(errors="replace") if isinstance(value, bytes) else str(value))[:500]
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"[:500]


def _logout(client: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        client.logout()


def _ok(answer: tuple, what: str) -> list:
    status, data = answer
    if status != "OK":
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise imaplib.IMAP4.error(f"{what}: {status} {text}")
    return data


def _select(client: imaplib.IMAP4, name: bytes) -> None:
    _ok(client.select(_quote(name)), f"SELECT {name.decode(errors='replace')}")


def _warmup_uids(client: imaplib.IMAP4, since: dt.date, *, unseen_only: bool) -> list[bytes]:
    criteria = ["SINCE", since.strftime("%d-%b-%Y"), "HEADER", HEADER, '""'] + (["UNSEEN"] if unseen_only else [])
    data = _ok(client.uid("SEARCH", *criteria), "SEARCH")
    return (data[0] or b"").split() if data else []


def _batches(uids: list[bytes]):
    for start in range(0, len(uids), UID_BATCH):
        yield b",".join(uids[start : start + UID_BATCH]).decode()


def _mark_seen(client: imaplib.IMAP4, uids: list[bytes]) -> None:
    for uid_set in _batches(uids):
        _ok(client.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Seen)"), "STORE")


def _move_to_inbox(client: imaplib.IMAP4, uids: list[bytes]) -> None:
    """MOVE (RFC 6851) when offered; else COPY, flag \\Deleted and expunge only these UIDs
    (UIDPLUS) — a plain EXPUNGE would also remove the user's own deleted messages. The
    capabilities are asked for again: imaplib keeps those from before login, which servers
    (Dovecot) give without MOVE or UIDPLUS."""
    capabilities = set(_ok(client.capability(), "CAPABILITY")[0].decode(errors="replace").upper().split())
    for uid_set in _batches(uids):
        if "MOVE" in capabilities:
            _ok(client.uid("MOVE", uid_set, "INBOX"), "MOVE")
            continue
        _ok(client.uid("COPY", uid_set, "INBOX"), "COPY")
        _ok(client.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)"), "STORE")
        if "UIDPLUS" in capabilities:
            _ok(client.uid("EXPUNGE", uid_set), "UID EXPUNGE")


def _engage(client: imaplib.IMAP4, counts: dict[str, int], since: dt.date) -> None:
    _select(client, b"INBOX")
    in_inbox = _warmup_uids(client, since, unseen_only=True)  # before spam lands here: placement inbox
    _mark_seen(client, in_inbox)
    counts["inbox"] = len(in_inbox)
    folder = spam_folder(parse_list(_ok(client.list(), "LIST")))
    if folder is None:
        return
    _select(client, folder.name)
    in_spam = _warmup_uids(client, since, unseen_only=False)
    _mark_seen(client, in_spam)  # flags travel with the message
    _move_to_inbox(client, in_spam)
    counts["spam"] = len(in_spam)


def mailbox_engage(*, mailbox_id: int) -> dict:
    """One engagement run for one mailbox: placement counts, or the error recorded on it."""
    mailbox = WarmupMailbox.objects.get(pk=mailbox_id)
    now = timezone.now()
    counts = {"inbox": 0, "spam": 0}
    error = ""
    try:
        client = _connect(mailbox)
        try:
            _engage(client, counts, now.date() - dt.timedelta(days=SEARCH_DAYS))
        except (OSError, imaplib.IMAP4.error) as exc:
            raise EngagementError(f"IMAP error on {mailbox.imap_host}:{mailbox.imap_port}: {_reason(exc)}") from None
        finally:
            _logout(client)
    except EngagementError as exc:
        error = str(exc)
        log.warning("warmup engagement for %s: %s", mailbox.address, error)
    if counts["inbox"] or counts["spam"]:  # what was done before an error still counts
        day_counts_add(mailbox_id=mailbox.pk, day=now.date(), **counts)
    mailbox_imap_checked(mailbox=mailbox, error=error, now=now)
    return {**counts, "error": error}
