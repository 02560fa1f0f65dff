"""SMTP submission with timeouts (one session per account and chunk), and the classification
of what went wrong.

Kinds: ``sent``; ``auth`` (the server refused the credentials: the mailbox is paused);
``temporary`` (4xx, connection refused/reset, timeouts: retried with backoff);
``permanent`` (5xx: counted, not retried). The password is only ever handed to
``smtplib.login``; nothing here logs or returns it.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

SENT, AUTH, TEMPORARY, PERMANENT = "sent", "auth", "temporary", "permanent"


class Message(Protocol):
    """What is sent: ``message["From"]``, ``message["To"]`` and its CRLF bytes (``content.WarmupMessage``)."""

    def __getitem__(self, name: str) -> str | None: ...

    def as_bytes(self) -> bytes: ...


@dataclass(frozen=True)
class Account:
    host: str
    port: int
    security: str  # starttls | tls | none
    username: str
    password: str

    def __repr__(self) -> str:  # never show the password in tracebacks or logs
        return f"Account({self.username}@{self.host}:{self.port}, {self.security})"


@dataclass(frozen=True)
class Delivery:
    kind: str
    code: int | None
    response: str
    duration_ms: int


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


AUTH_CODES = frozenset({530, 534, 535, 538})  # authentication required / mechanism too weak / refused


def classify_code(code: int | None) -> str:
    if code is None:
        return TEMPORARY
    if code in AUTH_CODES:
        return AUTH
    if 200 <= code < 400:
        return SENT
    return TEMPORARY if 400 <= code < 500 else PERMANENT


@lru_cache(maxsize=1)
def _local_hostname() -> str:
    """The EHLO name; smtplib would look it up (``socket.getfqdn``: DNS) on every connection."""
    return socket.getfqdn()


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()  # loads the system CA store: once per process


def _connect(account: Account, timeout: float) -> smtplib.SMTP:
    if account.security == "tls":
        return smtplib.SMTP_SSL(account.host, account.port, local_hostname=_local_hostname(), timeout=timeout,
                                context=_tls_context())
    client = smtplib.SMTP(account.host, account.port, local_hostname=_local_hostname(), timeout=timeout)
    if account.security == "starttls":
        client.starttls(context=_tls_context())
    return client


def _login(account: Account, timeout: float) -> smtplib.SMTP:
    client = _connect(account, timeout)
    try:
        if account.username:
            client.login(account.username, account.password)
    except BaseException:
        with contextlib.suppress(OSError):
            client.close()
        raise
    return client


def _failure(exc: Exception) -> tuple[str, int | None, str]:
    """(kind, code, text) for what went wrong talking to the server."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return AUTH, exc.smtp_code, _text(exc.smtp_error)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return AUTH, None, f"server does not offer what the settings need: {exc}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return classify_code(code), code, _text(text)
    if isinstance(exc, smtplib.SMTPResponseException):
        kind = classify_code(exc.smtp_code)
        return PERMANENT if kind == SENT else kind, exc.smtp_code, _text(exc.smtp_error)
    if isinstance(exc, ssl.SSLError):
        return PERMANENT, None, f"TLS error: {exc}"
    return TEMPORARY, None, f"{type(exc).__name__}: {exc}"  # OSError: timeouts, refused or reset connections


def _lost(exc: Exception) -> bool:
    """Whether the session is gone (the next message needs a new connection)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421
    # smtplib's exceptions are OSErrors too: here only socket-level ones (reset, timeout)
    return not isinstance(exc, smtplib.SMTPException | ssl.SSLError)


def _send_one(client: smtplib.SMTP, message: Message) -> tuple[str, int | None, str]:
    refused = client.sendmail(message["From"], [message["To"]], message.as_bytes())
    if refused:
        code, text = next(iter(refused.values()))
        return classify_code(code), code, _text(text)
    return SENT, 250, "queued"


class _SessionFailed(Exception):
    """The session could not be opened (connect, TLS or AUTH): nothing more goes out on it."""

    def __init__(self, cause: Exception) -> None:
        self.cause = cause


class _Session:
    def __init__(self, account: Account, timeout: float) -> None:
        self.account, self.timeout = account, timeout
        self.client: smtplib.SMTP | None = None
        self.used = 0  # messages sent on the open connection

    def send(self, message: Message) -> tuple[str, int | None, str]:
        if self.client is None:
            try:
                self.client = _login(self.account, self.timeout)
            except (smtplib.SMTPException, OSError) as exc:
                raise _SessionFailed(exc) from exc
            self.used = 0
        self.used += 1
        return _send_one(self.client, message)

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(OSError):
                self.client.close()
        self.client = None

    def quit(self) -> None:
        if self.client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.client.quit()
        self.close()


def deliver_many(account: Account, messages: list[Message], *, timeout: float) -> list[Delivery | None]:
    """Send ``messages`` from one account over one SMTP session (connect, TLS and AUTH once).

    One entry per message, in order. A session that carried messages and was then ended by
    the server (disconnect, 421) is opened again for the next one. When a session cannot
    be opened, every message not yet sent gets that failure, except an authentication
    failure: the first gets it and the rest ``None`` (not attempted; the caller pauses the
    mailbox).
    """
    results: list[Delivery | None] = []
    session = _Session(account, timeout)
    try:
        for index, message in enumerate(messages):
            started = time.monotonic()
            try:
                try:
                    outcome = session.send(message)
                except (smtplib.SMTPException, OSError) as exc:
                    # a session that carried messages and then ended (idle timeout, a per-session
                    # message limit): once more on a new one; a fresh session failing is an answer
                    if not (_lost(exc) and session.used > 1):
                        raise
                    session.close()
                    outcome = session.send(message)
            except _SessionFailed as failed:
                delivery = _delivery(_failure(failed.cause), started)
                rest = len(messages) - index - 1
                return [*results, delivery, *([None] * rest if delivery.kind == AUTH else [delivery] * rest)]
            except (smtplib.SMTPException, OSError) as exc:
                outcome = _failure(exc)
                if _lost(exc):
                    session.close()
            results.append(_delivery(outcome, started))
        return results
    finally:
        session.quit()


def _delivery(outcome: tuple[str, int | None, str], started: float) -> Delivery:
    kind, code, text = outcome
    return Delivery(kind, code, text[:1000], int((time.monotonic() - started) * 1000))


def deliver(account: Account, message: Message, *, timeout: float) -> Delivery:
    """One message over its own session."""
    [delivery] = deliver_many(account, [message], timeout=timeout)
    assert delivery is not None
    return delivery
