"""The receiving mail systems of the demo traffic: their delays, odds and real SMTP answers.

Data for :mod:`apps.demo.simulator`: Gmail, Microsoft, Yahoo and the other systems with
the codes and texts they really send, plus the sending MTA's own submission rejections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP answer: code, enhanced status (None when the server sends none) and text.

    Texts are templates: {ip} sending IP, {to} recipient, {domain} its domain, {id} a
    server-side queue/trace id, {ts} a Unix timestamp, {mx} the MX host.
    """

    code: int | None
    enhanced: str | None
    text: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class MailSystem:
    """How one receiving system behaves: delays, odds and its real answers."""

    delay_median_ms: float
    delay_sigma: float
    p_bounce: float  # permanent failure on the first attempt
    p_defer: float  # temporary failure on the first attempt
    delivered: Reply
    bounces: tuple[Reply, ...]
    deferrals: tuple[Reply, ...]
    throttle: Reply | None = None  # its answer during a throttling incident
    blocklist: Reply | None = None  # its answer to a blocklisted IP
    p_final_bounce: float = 0.15  # a deferred message that finally bounces


_GMAIL_ID = "{id} - gsmtp"
_MS_TAIL = "[{id}.namprd05.prod.outlook.com {ts}]"
_YAHOO_ERR = "see https://postmaster.yahooinc.com/error-codes"

SYSTEMS: Final[dict[str, MailSystem]] = {
    "gmail": MailSystem(
        delay_median_ms=900,
        delay_sigma=0.55,
        p_bounce=0.012,
        p_defer=0.02,
        delivered=Reply(250, "2.0.0", "250 2.0.0 OK  {ts} " + _GMAIL_ID),
        bounces=(
            Reply(550, "5.1.1", "550-5.1.1 The email account that you tried to reach does not exist. Please try "
                  "double-checking the recipient's email address for typos or unnecessary spaces. For more "
                  "information, go to https://support.google.com/mail/?p=NoSuchUser " + _GMAIL_ID, 6),
            Reply(552, "5.2.2", "552-5.2.2 The recipient's inbox is out of storage space. Please direct the "
                  "recipient to https://support.google.com/mail/?p=OverQuotaPerm " + _GMAIL_ID, 1),
            Reply(550, "5.7.26", "550-5.7.26 Unauthenticated email from {sender_domain} is not accepted due to "
                  "domain's DMARC policy. Please contact the administrator of {sender_domain} domain if this was "
                  "a legitimate mail. To learn about the DMARC initiative, go to "
                  "https://support.google.com/mail/?p=DmarcRejection " + _GMAIL_ID, 0.6),
            Reply(550, "5.7.1", "550-5.7.1 [{ip}] Gmail has detected that this message is likely unsolicited mail. "
                  "To reduce the amount of spam sent to Gmail, this message has been blocked. For more "
                  "information, go to https://support.google.com/mail/?p=UnsolicitedMessageError " + _GMAIL_ID, 0.8),
        ),  # fmt: skip
        deferrals=(
            Reply(452, "4.2.2", "452-4.2.2 The recipient's inbox is out of storage space and inbound mail cannot "
                  "be delivered. Please try again later. For more information, go to "
                  "https://support.google.com/mail/?p=OverQuotaTemp " + _GMAIL_ID, 1),
            Reply(421, "4.7.0", "421-4.7.0 Try again later, closing connection. (EHLO) For more information, go to "
                  "https://support.google.com/a/answer/3221692 " + _GMAIL_ID, 1),
            Reply(421, "4.7.28", "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating "
                  "from your IP address. To protect our users from spam, mail sent from your IP address has been "
                  "temporarily rate limited. For more information, go to "
                  "https://support.google.com/mail/?p=UnsolicitedRateLimitError " + _GMAIL_ID, 1),
        ),  # fmt: skip
        throttle=Reply(421, "4.7.28", "421-4.7.28 [{ip}      15] Gmail has detected an unusual rate of unsolicited "
                       "mail originating from your IP address. To protect our users from spam, mail sent from your "
                       "IP address has been temporarily rate limited. For more information, go to "
                       "https://support.google.com/mail/?p=UnsolicitedRateLimitError " + _GMAIL_ID),  # fmt: skip
        blocklist=Reply(550, "5.7.1", "550-5.7.1 [{ip}] Our system has detected that this message is likely "
                        "unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been "
                        "blocked. For more information, go to "
                        "https://support.google.com/mail/?p=UnsolicitedMessageError " + _GMAIL_ID),  # fmt: skip
        p_final_bounce=0.08,
    ),
    "microsoft": MailSystem(
        delay_median_ms=1800,
        delay_sigma=0.7,
        p_bounce=0.015,
        p_defer=0.03,
        delivered=Reply(250, "2.6.0", "250 2.6.0 <{message_id}> [InternalId={ts}, Hostname={id}.namprd05.prod."
                        "outlook.com] Queued mail for delivery -> 250 2.1.5"),  # fmt: skip
        bounces=(
            Reply(550, "5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). " + _MS_TAIL,
                  6),
            Reply(550, "5.7.509", "550 5.7.509 Access denied, sending domain {sender_domain} does not pass DMARC "
                  "verification and has a DMARC policy of reject. " + _MS_TAIL, 0.5),
            Reply(550, "5.7.1", "550 5.7.1 Service unavailable, Client host [{ip}] blocked using Spamhaus. To "
                  "request removal from this list see https://www.spamhaus.org/query/ip/{ip} (AS3130). " + _MS_TAIL,
                  0.3),
        ),  # fmt: skip
        deferrals=(
            Reply(451, "4.7.500", "451 4.7.500 Server busy. Please try again later from [{ip}]. (S77714) " + _MS_TAIL,
                  3),
            Reply(452, "4.2.2", "452 4.2.2 The recipient's mailbox is full and can't accept messages now. "
                  + _MS_TAIL, 1),
        ),  # fmt: skip
        throttle=Reply(451, "4.7.650", "451 4.7.650 The mail server [{ip}] has been temporarily rate limited due to "
                       "IP reputation. For e-mail delivery information, see https://aka.ms/postmaster (S775) "
                       + _MS_TAIL),  # fmt: skip
        blocklist=Reply(550, "5.7.1", "550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your "
                        "Internet service provider since part of their network is on our block list (S3150). You can "
                        "also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. "
                        + _MS_TAIL),  # fmt: skip
    ),
    "yahoo": MailSystem(
        delay_median_ms=1500,
        delay_sigma=0.65,
        p_bounce=0.02,
        p_defer=0.035,
        delivered=Reply(250, None, "250 ok dirdel"),
        bounces=(
            Reply(554, "5.1.1", "554 5.1.1 delivery error: dd This user doesn't have a {domain} account ({to}) [0] - "
                  "mta{n}.mail.gq1.yahoo.com", 6),
            Reply(552, "5.2.2", "552 5.2.2 delivery error: dd Requested mail action aborted, mailbox full ({to}) - "
                  "mta{n}.mail.bf1.yahoo.com", 1),
            Reply(554, "5.7.9", "554 5.7.9 Message not accepted for policy reasons.  " + _YAHOO_ERR, 0.6),
        ),  # fmt: skip
        deferrals=(
            Reply(421, "4.7.0", "421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume "
                  "or user complaints - 4.16.55.1; " + _YAHOO_ERR, 3),
            Reply(451, "4.3.2", "451 4.3.2 Internal error, please try again later (mta{n}.mail.bf1.yahoo.com)", 1),
        ),  # fmt: skip
        throttle=Reply(421, "4.7.0", "421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected "
                       "volume or user complaints - 4.16.55.1; " + _YAHOO_ERR),  # fmt: skip
        blocklist=Reply(553, "5.7.1", "553 5.7.1 [BL21] Connections will not be accepted from {ip}, because the ip "
                        "is in Spamhaus's list; " + _YAHOO_ERR),  # fmt: skip
    ),
    "icloud": MailSystem(
        delay_median_ms=1200,
        delay_sigma=0.6,
        p_bounce=0.01,
        p_defer=0.015,
        delivered=Reply(250, "2.0.0", "250 2.0.0 Ok: queued as {id}"),
        bounces=(
            Reply(550, "5.1.1", "550 5.1.1 <{to}>: user does not exist", 5),
            Reply(552, "5.2.2", "552 5.2.2 <{to}>: user is over quota", 1),
        ),
        deferrals=(
            Reply(421, "4.7.0", "421 4.7.0 [CS01] Message rejected due to local policy. Please visit "
                  "https://support.apple.com/en-us/HT204137", 1),
        ),  # fmt: skip
        blocklist=Reply(554, "5.7.1", "554 5.7.1 [HM08] Message rejected due to local policy. Please visit "
                        "https://support.apple.com/en-us/HT204137"),  # fmt: skip
    ),
    "google-workspace": MailSystem(
        delay_median_ms=1100,
        delay_sigma=0.6,
        p_bounce=0.02,
        p_defer=0.015,
        delivered=Reply(250, "2.0.0", "250 2.0.0 OK  {ts} " + _GMAIL_ID),
        bounces=(
            Reply(550, "5.1.1", "550-5.1.1 The email account that you tried to reach does not exist. Please try "
                  "double-checking the recipient's email address for typos or unnecessary spaces. For more "
                  "information, go to https://support.google.com/mail/?p=NoSuchUser " + _GMAIL_ID, 5),
            Reply(550, "5.2.1", "550-5.2.1 The email account that you tried to reach is inactive. For more "
                  "information, go to https://support.google.com/mail/?p=DisabledUser " + _GMAIL_ID, 1),
        ),  # fmt: skip
        deferrals=(
            Reply(452, "4.2.2", "452-4.2.2 The recipient's inbox is out of storage space and inbound mail cannot "
                  "be delivered. Please try again later. For more information, go to "
                  "https://support.google.com/mail/?p=OverQuotaTemp " + _GMAIL_ID, 1),
        ),  # fmt: skip
    ),
    "microsoft-365": MailSystem(
        delay_median_ms=2200,
        delay_sigma=0.75,
        p_bounce=0.025,
        p_defer=0.02,
        delivered=Reply(250, "2.6.0", "250 2.6.0 <{message_id}> [InternalId={ts}, Hostname={id}.eurprd04.prod."
                        "outlook.com] Queued mail for delivery"),  # fmt: skip
        bounces=(
            Reply(550, "5.4.1", "550 5.4.1 Recipient address rejected: Access denied. For more information see "
                  "https://aka.ms/EXOSmtpErrors " + _MS_TAIL, 5),
            Reply(550, "5.7.1", "550 5.7.1 Service unavailable, Client host [{ip}] blocked using Spamhaus. To "
                  "request removal from this list see https://www.spamhaus.org/query/ip/{ip} (AS3130). " + _MS_TAIL,
                  0.3),
        ),  # fmt: skip
        deferrals=(
            Reply(451, "4.7.500", "451 4.7.500 Server busy. Please try again later from [{ip}]. (S77714) " + _MS_TAIL,
                  1),
        ),  # fmt: skip
        blocklist=Reply(550, "5.7.1", "550 5.7.1 Service unavailable, Client host [{ip}] blocked using Spamhaus. To "
                        "request removal from this list see https://www.spamhaus.org/query/ip/{ip} (AS3130). "
                        + _MS_TAIL),  # fmt: skip
    ),
    "postfix": MailSystem(
        delay_median_ms=2600,
        delay_sigma=0.9,
        p_bounce=0.03,
        p_defer=0.06,
        delivered=Reply(250, "2.0.0", "250 2.0.0 Ok: queued as {id}"),
        bounces=(
            Reply(550, "5.1.1", "550 5.1.1 <{to}>: Recipient address rejected: User unknown in virtual mailbox "
                  "table", 5),
            Reply(552, "5.2.2", "552 5.2.2 <{to}>: Recipient address rejected: Mailbox full", 1),
            Reply(None, "5.4.4", "Host or domain name not found. Name service error for name={domain} type=MX: "
                  "Host not found", 0.4),
            Reply(554, "5.7.1", "554 5.7.1 <{to}>: Recipient address rejected: Message rejected as spam by "
                  "Content Filtering.", 0.5),
        ),  # fmt: skip
        deferrals=(
            Reply(450, "4.2.0", "450 4.2.0 <{to}>: Recipient address rejected: Greylisted, see "
                  "https://postgrey.schweikert.ch/help/{domain}.html", 4),
            Reply(None, "4.4.1", "connect to {mx}[{mx_ip}]:25: Connection timed out", 2),
            Reply(452, "4.2.2", "452 4.2.2 <{to}>: Mailbox full", 1),
            Reply(451, "4.3.0", "451 4.3.0 <{to}>: Temporary lookup failure", 1),
        ),  # fmt: skip
        blocklist=Reply(554, "5.7.1", "554 5.7.1 Service unavailable; Client host [{ip}] blocked using "
                        "zen.spamhaus.org; https://www.spamhaus.org/query/ip/{ip}"),  # fmt: skip
    ),
    "exim": MailSystem(
        delay_median_ms=2900,
        delay_sigma=0.9,
        p_bounce=0.035,
        p_defer=0.05,
        delivered=Reply(250, None, "250 OK id={id}"),
        bounces=(
            Reply(550, "5.1.1", "550 5.1.1 <{to}>: Recipient address rejected: User unknown", 3),
            Reply(550, None, "550 No Such User Here", 2),
            Reply(552, "5.2.2", "552 5.2.2 Mailbox quota exceeded", 1),
        ),
        deferrals=(
            Reply(451, "4.7.1", "451 4.7.1 Please try again later", 3),
            Reply(None, "4.4.1", "connect to {mx}[{mx_ip}]:25: Connection timed out", 1),
        ),
        blocklist=Reply(550, None, "550-Rejected because {ip} is in a black list at zen.spamhaus.org\n"
                        "550 Your IP is listed on Spamhaus ZEN"),  # fmt: skip
    ),
}

# Submission-time rejections by the sending MTA itself (Rspamd verdicts, account limits).
REJECTIONS: Final = (
    Reply(550, "5.7.1", "550 5.7.1 Spam message rejected", 3),
    Reply(421, "4.7.0", "421 4.7.0 Too many messages from this account, slow down", 1),
    Reply(550, "5.7.1", "550 5.7.1 Message rejected: contains a known phishing URL", 0.5),
)
P_REJECT: Final = 0.004
P_COMPLAINT: Final = 0.002  # of marketing mail delivered to providers with feedback loops
FEEDBACK_LOOPS: Final = frozenset({"microsoft", "yahoo"})
