"""A real SMTP server (aiosmtpd) on loopback with AUTH, recording what it receives."""

from __future__ import annotations

import email
import email.policy
import threading
import warnings
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.core.processes import free_port

from .dovecot import dovecot  # noqa: F401 (the IMAP server fixture)
from .factories import PASSWORD


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list = field(default_factory=list)
    logins: list = field(default_factory=list)  # every AUTH attempt (smtplib tries PLAIN, then LOGIN)
    sessions: set = field(default_factory=set)  # (login, client address): one per connection
    bad_password_users: set = field(default_factory=set)  # these logins are refused (535)
    rcpt_replies: dict = field(default_factory=dict)  # recipient -> "451 ..." / "550 ..."
    session_limit: int | None = None  # messages per connection, then "421" (and the client hangs up)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def parsed(self) -> list[email.message.Message]:
        with self.lock:
            return [email.message_from_bytes(m["data"], policy=email.policy.default) for m in self.messages]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        count = getattr(session, "mailmon_messages", 0)
        if self.sink.session_limit is not None and count >= self.sink.session_limit:
            return "421 4.7.0 too many messages in this session"
        session.mailmon_messages = count + 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.sink.lock:
            self.sink.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                       "data": envelope.original_content or envelope.content,
                                       "login": session.auth_data})
        return "250 2.0.0 queued"


def _authenticator(sink: SmtpSink):
    def check(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        with sink.lock:
            sink.logins.append(login)
            sink.sessions.add((login, session.peer))
        ok = password == PASSWORD and login not in sink.bad_password_users
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    return check


def start_sink(port: int | None = None) -> tuple[SmtpSink, Controller]:
    # AUTH without TLS is what a loopback test server does; aiosmtpd warns on every connection
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
    sink = SmtpSink("127.0.0.1", port or free_port())
    controller = Controller(
        _Handler(sink), hostname=sink.host, port=sink.port, authenticator=_authenticator(sink),
        auth_require_tls=False, auth_required=True, ready_timeout=10,
    )
    controller.start()
    return sink, controller


@pytest.fixture
def smtp_server():
    sink, controller = start_sink()
    try:
        yield sink
    finally:
        controller.stop()
