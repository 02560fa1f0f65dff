"""Warmup messages: varied, plausible plain-text + HTML mail built from small templates.

Every message carries ``X-Mailmon-Warmup`` (identifies warmup mail for filters and the
IMAP engagement); replies carry ``In-Reply-To``/``References`` and a "Re:" subject.
"""

from __future__ import annotations

import html
import random
import uuid
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
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


def build_message(
    *,
    sender: str,
    recipient: str,
    rng: random.Random | None = None,
    reply_to_message_id: str | None = None,
    reply_subject: str | None = None,
) -> MIMEMultipart:
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
    # The legacy (compat32) MIME classes: ~10× cheaper than EmailMessage's header parser, which
    # matters at hundreds of sends a second; the result on the wire is the same.
    message = MIMEMultipart("alternative")
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message[HEADER] = f"v1; id={uuid.uuid4().hex}"
    if reply_to_message_id:
        message["In-Reply-To"] = reply_to_message_id
        message["References"] = reply_to_message_id
    message.attach(MIMEText(plain, "plain", "utf-8"))
    message.attach(MIMEText(rich, "html", "utf-8"))
    return message
