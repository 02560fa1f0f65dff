"""One SMTP submission with timeouts, and the classification of what went wrong.

Kinds: ``sent``; ``auth`` (the server refused the credentials: the mailbox is paused);
``temporary`` (4xx, connection refused/reset, timeouts: retried with backoff);
``permanent`` (5xx: counted, not retried). The password is only ever handed to
``smtplib.login``; nothing here logs or returns it.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32

SENT, AUTH, TEMPORARY, PERMANENT = "sent", "auth", "temporary", "permanent"
WIRE = compat32.clone(linesep="\r\n")  # sendmail() leaves bytes as they are: CRLF here


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


def _connect(account: Account, timeout: float) -> smtplib.SMTP:
    if account.security == "tls":
        return smtplib.SMTP_SSL(account.host, account.port, timeout=timeout, context=ssl.create_default_context())
    client = smtplib.SMTP(account.host, account.port, timeout=timeout)
    if account.security == "starttls":
        client.starttls(context=ssl.create_default_context())
    return client


def deliver(account: Account, message: Message, *, timeout: float) -> Delivery:
    started = time.monotonic()

    def done(kind: str, code: int | None, response: str) -> Delivery:
        return Delivery(kind, code, response[:1000], int((time.monotonic() - started) * 1000))

    try:
        with _connect(account, timeout) as client:
            if account.username:
                client.login(account.username, account.password)
            refused = client.sendmail(message["From"], [message["To"]], message.as_bytes(policy=WIRE))
            if refused:
                code, text = next(iter(refused.values()))
                return done(classify_code(code), code, _text(text))
            return done(SENT, 250, "queued")
    except smtplib.SMTPAuthenticationError as exc:
        return done(AUTH, exc.smtp_code, _text(exc.smtp_error))
    except smtplib.SMTPNotSupportedError as exc:
        return done(AUTH, None, f"server does not offer what the settings need: {exc}")
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return done(classify_code(code), code, _text(text))
    except smtplib.SMTPResponseException as exc:
        kind = classify_code(exc.smtp_code)
        return done(PERMANENT if kind == SENT else kind, exc.smtp_code, _text(exc.smtp_error))
    except ssl.SSLError as exc:
        return done(PERMANENT, None, f"TLS error: {exc}")
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers timeouts and refused connections
        return done(TEMPORARY, None, f"{type(exc).__name__}: {exc}")
