"""IMAP engagement against a real Dovecot on loopback (tests/warmup/dovecot.py)."""

from __future__ import annotations

import logging

import pytest
from django.utils import timezone

from apps.warmup import engagement, selectors, tasks
from apps.warmup.content import HEADER, build_message
from apps.warmup.models import WarmupDay, WarmupMailbox
from tests.core.factories import UserFactory

from .factories import MailboxFactory

pytestmark = pytest.mark.django_db
IMAP_PASSWORD = "imap-Pa55-for-engagement"
NO_MOVE = """protocol imap {
  imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE SPECIAL-USE UIDPLUS
}"""


def mailbox(dovecot, *, security: str = "none", password: str = IMAP_PASSWORD, **fields) -> WarmupMailbox:
    box = MailboxFactory(imap_host="localhost" if security != "none" else "127.0.0.1",
                         imap_port=dovecot.tls_port if security == "tls" else dovecot.port, imap_security=security,
                         imap_username="", imap_password=password, **fields)
    dovecot.add_user(box.username, IMAP_PASSWORD)
    return box


def warmup_mail(to: str = "r@x.example.test") -> bytes:
    return build_message(sender="s@y.example.test", recipient=to).as_bytes()


OTHER_MAIL = b"From: news@z.example.test\r\nTo: r@x.example.test\r\nSubject: not warmup\r\n\r\nHello\r\n"


def today(box: WarmupMailbox) -> WarmupDay:
    return WarmupDay.objects.get(mailbox=box, day=timezone.now().date())


def test_warmup_mail_in_junk_is_read_moved_to_the_inbox_and_counted_as_spam(dovecot):
    box = mailbox(dovecot, provider="gmail")
    dovecot.append(box.username, "Junk", warmup_mail(box.address))
    dovecot.append(box.username, "Junk", OTHER_MAIL)
    dovecot.append(box.username, "Junk", OTHER_MAIL.replace(b"not warmup", b"deleted by the user"), r"\Deleted")
    result = engagement.mailbox_engage(mailbox_id=box.pk)
    assert result == {"inbox": 0, "spam": 1, "error": ""}
    [(flags, headers)] = dovecot.messages(box.username, "INBOX")
    assert HEADER.encode() in headers and "\\Seen" in flags
    junk = sorted(headers for _, headers in dovecot.messages(box.username, "Junk"))
    assert len(junk) == 2 and b"not warmup" in junk[1] and b"deleted by the user" in junk[0]  # not expunged
    assert (today(box).spam, today(box).inbox) == (1, 0)
    box.refresh_from_db()
    assert box.imap_error == "" and box.imap_checked_at is not None
    admin = UserFactory(is_superuser=True)
    assert selectors.placement_by_provider(user=admin) == [
        {"provider": "gmail", "inbox": 0, "spam": 1, "inbox_rate": 0.0}]


def test_warmup_mail_already_in_the_inbox_is_read_and_counted_once_as_inbox(dovecot):
    box = mailbox(dovecot)
    dovecot.append(box.username, "INBOX", warmup_mail(box.address))
    dovecot.append(box.username, "INBOX", warmup_mail(box.address), r"\Seen")  # counted by an earlier run
    dovecot.append(box.username, "INBOX", OTHER_MAIL)
    tasks.engage(box.pk)
    tasks.engage(box.pk)  # nothing new the second time
    assert (today(box).inbox, today(box).spam) == (1, 0)
    by_subject = {headers.count(HEADER.encode()): flags for flags, headers in dovecot.messages(box.username, "INBOX")}
    assert "\\Seen" in by_subject[1] and "\\Seen" not in by_subject[0]  # the user's own mail stays unread


@pytest.mark.parametrize("dovecot", [NO_MOVE], indirect=True)
def test_without_move_warmup_mail_is_copied_and_only_it_expunged(dovecot):
    box = mailbox(dovecot)
    dovecot.append(box.username, "Junk", warmup_mail(box.address))
    dovecot.append(box.username, "Junk", OTHER_MAIL, r"\Deleted")
    assert engagement.mailbox_engage(mailbox_id=box.pk)["spam"] == 1
    assert len(dovecot.messages(box.username, "INBOX")) == 1
    [(flags, headers)] = dovecot.messages(box.username, "Junk")
    assert b"not warmup" in headers and "\\Deleted" in flags


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_engagement_works_over_starttls_and_implicit_tls(dovecot, security, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))  # trust the instance's self-signed certificate
    box = mailbox(dovecot, security=security)
    dovecot.append(box.username, "Junk", warmup_mail(box.address))
    assert engagement.mailbox_engage(mailbox_id=box.pk) == {"inbox": 0, "spam": 1, "error": ""}


def test_an_untrusted_certificate_is_a_clear_error(dovecot):
    box = mailbox(dovecot, security="tls")
    result = engagement.mailbox_engage(mailbox_id=box.pk)
    assert result["error"].startswith(f"IMAP TLS with localhost:{dovecot.tls_port} failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in result["error"]


def test_bad_imap_credentials_are_recorded_on_the_mailbox_without_the_password(dovecot, caplog):
    box = mailbox(dovecot, password="wrong-" + IMAP_PASSWORD)
    dovecot.append(box.username, "Junk", warmup_mail(box.address))
    with caplog.at_level(logging.DEBUG):
        result = tasks.engage(box.pk)
    box.refresh_from_db()
    assert result is None  # the task returned normally
    assert box.imap_error == (f"IMAP login to 127.0.0.1:{dovecot.port} failed: "
                              "[AUTHENTICATIONFAILED] Authentication failed.")
    assert box.imap_checked_at is not None and box.status == "active"  # sending goes on
    assert not WarmupDay.objects.filter(mailbox=box).exists()
    assert IMAP_PASSWORD not in caplog.text and IMAP_PASSWORD not in box.imap_error
    # fixed credentials clear the error on the next run
    box.imap_password = IMAP_PASSWORD
    box.save()
    assert engagement.mailbox_engage(mailbox_id=box.pk)["spam"] == 1
    box.refresh_from_db()
    assert box.imap_error == ""


def test_a_server_that_is_not_there_is_recorded_too(dovecot):
    box = mailbox(dovecot)
    dovecot.stop()
    result = engagement.mailbox_engage(mailbox_id=box.pk)
    assert result["error"].startswith(f"cannot connect to IMAP server 127.0.0.1:{dovecot.port}: ConnectionRefusedError")


@pytest.mark.parametrize(
    ("lines", "found"),
    [
        ([b'(\\HasNoChildren) "/" INBOX', b'(\\HasNoChildren \\Junk) "/" "[Gmail]/Spam"'], b"[Gmail]/Spam"),
        ([b'(\\HasNoChildren) "." INBOX', b'(\\HasNoChildren) "." INBOX.Junk'], b"INBOX.Junk"),
        ([b'(\\HasNoChildren) "/" "Junk E-mail"'], b"Junk E-mail"),
        ([(b'(\\HasNoChildren \\Junk) "/" {4}', b"Spam")], b"Spam"),
        ([b'(\\Noselect \\Junk) NIL Junk', b'(\\HasNoChildren) "/" "Quoted \\"Spam\\""'], None),
        ([b'(\\HasNoChildren) "/" Archive', b"garbage"], None),
    ],
)
def test_the_spam_folder_is_found_by_flag_or_usual_name(lines, found):
    folder = engagement.spam_folder(engagement.parse_list(lines))
    assert (folder.name if folder else None) == found
