"""Warmup messages: varied, plausible plain-text + HTML mail built from small templates.

Every message carries ``X-Mailmon-Warmup`` (identifies warmup mail for filters and the
IMAP engagement); replies carry ``In-Reply-To``/``References`` and a "Re:" subject.

The wire form is written here rather than by the ``email`` package: its generator (header
folding through ``email.header.Header`` for every header, a regex compiled per boundary)
cost ~1 ms a message, the largest share of a worker's CPU per send. The shape is fixed and
small — a few short headers (RFC 2047 for a non-ASCII subject, through ``email.header``),
``multipart/alternative`` with a plain-text and an HTML part, both quoted-printable UTF-8
(C ``binascii``) — and the tests read every message back with the ``email`` parser.
"""

from __future__ import annotations

import binascii
import html
import random
import uuid
from email.header import Header
from email.utils import formatdate, make_msgid

HEADER = "X-Mailmon-Warmup"

GREETINGS = ["Hi", "Hello", "Hey", "Good morning", "Good afternoon", "Dear"]
NAMES = ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Chris", "Robin", "Jamie", "Casey", "Drew"]
TOPICS = [
    ("Quick question about {thing}", "I was looking at the {thing} notes and wondered whether {detail}."),
    ("Notes from {day}", "Here are my notes from {day}. The main point: {detail}."),
    ("{thing} — next steps", "Following up on {thing}: I think {detail}. Let me know what you think."),
    ("Catching up", "It has been a while! {detail_cap}. How are things on your side?"),
    ("Re-scheduling our {thing} call", "Could we move the {thing} call to {day}? {detail_cap}."),
    ("Thoughts on the {thing} draft", "I read the {thing} draft. {detail_cap}, otherwise it looks good."),
    ("Lunch on {day}?", "Are you free for lunch on {day}? {detail_cap}."),
]
THINGS = ["quarterly plan", "budget", "website refresh", "onboarding guide", "workshop", "report", "roadmap"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "next week"]
DETAILS = [
    "we could keep the second section shorter",
    "the timeline still works for everyone",
    "the figures from last month look better than expected",
    "we should invite the design team as well",
    "the new format is easier to read",
    "a short call would settle the open points",
]
REPLIES = [
    "Thanks, that works for me.",
    "Good point — I agree.",
    "Sounds good, talk soon.",
    "Thanks for the update, I will take a look.",
    "Great, see you then.",
]
SIGN_OFFS = ["Best", "Thanks", "Cheers", "Kind regards", "All the best"]


def _body(rng: random.Random, text: str) -> tuple[str, str]:
    greeting = f"{rng.choice(GREETINGS)} {rng.choice(NAMES)},"
    sign = f"{rng.choice(SIGN_OFFS)},\n{rng.choice(NAMES)}"
    plain = f"{greeting}\n\n{text}\n\n{sign}\n"
    paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in (greeting, text, sign))
    return plain, f"<html><body>{paragraphs}</body></html>"


class WarmupMessage:
    """A warmup message: headers (``message["Subject"]``, decoded) and its bytes on the wire."""

    def __init__(self, headers: dict[str, str], plain: str, rich: str) -> None:
        self.headers, self.plain, self.rich = headers, plain, rich

    def __getitem__(self, name: str) -> str | None:
        return self.headers.get(name)

    def as_bytes(self) -> bytes:
        """RFC 5322 with CRLF line ends, as SMTP ``DATA`` takes it."""
        boundary = f"=_{uuid.uuid4().hex}"  # "=_" never occurs in quoted-printable text
        lines = [f"{name}: {_header(name, value)}" for name, value in self.headers.items()]
        lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
        for subtype, text in (("plain", self.plain), ("html", self.rich)):
            lines += [f"--{boundary}", f'Content-Type: text/{subtype}; charset="utf-8"',
                      "Content-Transfer-Encoding: quoted-printable", "", _qp(text)]
        lines += [f"--{boundary}--", ""]
        return "\r\n".join(lines).encode("ascii")


def _header(name: str, value: str) -> str:
    value = " ".join(value.split())  # no CR/LF from anywhere can start a header of its own
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def _qp(text: str) -> str:
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").encode(), istext=True).decode("ascii")
    return encoded.replace("\n", "\r\n")


def build_message(
    *,
    sender: str,
    recipient: str,
    rng: random.Random | None = None,
    reply_to_message_id: str | None = None,
    reply_subject: str | None = None,
) -> WarmupMessage:
    rng = rng or random.Random()
    if reply_to_message_id:
        subject = reply_subject if (reply_subject or "").lower().startswith("re:") else f"Re: {reply_subject or ''}"
        text = rng.choice(REPLIES)
    else:
        subject_t, text_t = rng.choice(TOPICS)
        detail = rng.choice(DETAILS)
        values = {"thing": rng.choice(THINGS), "day": rng.choice(DAYS), "detail": detail}
        values["detail_cap"] = detail[0].upper() + detail[1:]
        subject, text = subject_t.format(**values), text_t.format(**values)
    plain, rich = _body(rng, text)
    headers = {
        "From": sender,
        "To": recipient,
        "Subject": subject,
        "Date": formatdate(localtime=False, usegmt=True),
        "Message-ID": make_msgid(domain=sender.rsplit("@", 1)[-1]),
        HEADER: f"v1; id={uuid.uuid4().hex}",
    }
    if reply_to_message_id:
        headers["In-Reply-To"] = headers["References"] = reply_to_message_id
    return WarmupMessage(headers, plain, rich)
