"""``mailmon-agent ship-postfix``: Postfix's mail log -> delivery events (docs/events.md).

Follows the log across rotation (offset and inode kept in the spool directory), joins what
``cleanup`` (message-id) and ``qmgr`` (from, size, nrcpt) say about a queue id with each
delivery attempt (``to=``, ``orig_to=``, ``relay=``, ``delay=``, ``delays=``, ``dsn=``,
``status=sent|deferred|bounced|expired``) of any transport (smtp, lmtp, local, virtual, pipe,
error, …) and posts batches to ``POST /api/v1/events/ingest`` through the agent's spool, so a
portal outage loses nothing.  Event ids are derived from the log line itself, so reading a
line twice (a restart before the offset was saved, a resend) stores it once.

Standard library only; shares configuration, spool and retry logic with mailmon_agent.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import mailmon_agent as core

log = logging.getLogger("mailmon-agent")

MAX_PENDING = 50000  # queue ids remembered between their qmgr and delivery lines
SAVE_EVERY = 5.0  # seconds between saves of the log position while lines keep coming
STATUS_TYPES = {"sent": "delivered", "deferred": "deferred", "bounced": "bounced", "expired": "bounced"}
MONTHS = {
    m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)
}

# "Nov  5 10:00:00[.123456] host prog[pid]: msg"  or  "2026-11-05T10:00:00.123+01:00 host prog[pid]: msg"
LINE = re.compile(
    r"^(?:(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)))"
    r" \S+ (?P<prog>[\w.-]+(?:/[\w.-]+)+)\[\d+\]: (?P<msg>.*)$"
)
QUEUED = re.compile(r"^(?P<qid>[0-9A-Za-z]{5,20}): (?P<rest>.*)$")
FIELD = re.compile(r"(?P<key>[a-z_]+)=(?P<value><[^>]*>|[^,\s]*)")
STATUS = re.compile(r"status=(?P<status>\w+)(?P<tail>.*)$")
RELAY = re.compile(r"^(?P<host>[^\[\]]+)\[(?P<addr>[^\]]+)\](?::(?P<port>\d+))?$")
CODE = re.compile(r"(?:^|said: |\) )(?P<code>[245]\d\d)[ -]")
REJECT = re.compile(r"^NOQUEUE: reject: \w+ from \S+: (?P<code>[45]\d\d) (?:(?P<dsn>[45]\.\d+\.\d+) )?(?P<text>.*?); "
                    r"(?P<fields>from=.*)$")  # fmt: skip


def parse_time(match: re.Match, now: datetime) -> datetime | None:
    """The line's time, timezone-aware: RFC 3339 as written; a syslog stamp has no year and no
    zone, so it is local time in the year that puts it at most a day ahead of ``now``."""
    if match["iso"]:
        return _rfc3339(match["iso"])
    hour, minute, second = (int(x) for x in match["hms"].split(":"))
    micro = int((match["frac"] or "0")[:6].ljust(6, "0"))
    for year in (now.year, now.year - 1, now.year + 1):
        try:
            stamp = datetime(year, MONTHS[match["mon"]], int(match["day"]), hour, minute, second, micro).astimezone()
        except (ValueError, KeyError):  # Feb 29 in the wrong year, a garbled month
            continue
        if stamp <= now + timedelta(days=1):
            return stamp
    return None


ISO = re.compile(r"^(?P<base>[\d-]+T[\d:]+)(?:\.(?P<frac>\d+))?(?P<zone>Z|[+-]\d\d):?(?P<zmin>\d\d)?$")


def _rfc3339(text: str) -> datetime | None:
    """Python 3.9's fromisoformat wants 0, 3 or 6 fraction digits and a colon in the offset."""
    parts = ISO.match(text)
    if not parts:
        return None
    zone = "+00:00" if parts["zone"] == "Z" else f"{parts['zone']}:{parts['zmin'] or '00'}"
    fraction = "." + (parts["frac"] or "0")[:6].ljust(6, "0")
    try:
        return datetime.fromisoformat(parts["base"] + fraction + zone)
    except ValueError:
        return None


def address(value: str | None) -> str | None:
    return None if value is None else value.strip("<>")


@dataclass
class PostfixParser:
    """Turns log lines into events, remembering per queue id what earlier lines said."""

    node: str
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)

    def feed(self, line: str, now: datetime | None = None) -> list[dict[str, Any]]:
        match = LINE.match(line.rstrip("\n"))
        if not match or not match["prog"].split("/")[0].startswith("postfix"):
            return []  # another daemon, or not a log line at all
        daemon, msg = match["prog"].rsplit("/", 1)[1], match["msg"]
        if msg.startswith("NOQUEUE: reject:"):
            return self._rejected(match, msg, line, now)
        queued = QUEUED.match(msg)
        if not queued:
            return []
        qid, rest = queued["qid"], queued["rest"]
        if rest == "removed":
            self.pending.pop(qid, None)
            return []
        fields = {m["key"]: m["value"] for m in FIELD.finditer(rest.split(" (", 1)[0] if "status=" not in rest
                                                                else rest[: rest.index("status=")])}  # fmt: skip
        state = self._state(qid)
        if daemon == "cleanup" and "message-id" in rest:
            state["message_id"] = rest.split("message-id=", 1)[1].strip() or None
        status = STATUS.search(rest)
        if "to" in fields and status and status["status"] in STATUS_TYPES:
            return [self._delivery(qid, state, fields, status, match, line, now)]
        if "from" in fields and status and status["status"] == "expired":
            return self._expired(qid, state, match, line, now)
        if daemon == "qmgr" and "from" in fields:
            state["from"] = address(fields["from"])
            for key in ("size", "nrcpt"):
                if fields.get(key, "").isdigit():
                    state[key] = int(fields[key])
        return []

    def _state(self, qid: str) -> dict[str, Any]:
        if qid not in self.pending and len(self.pending) >= MAX_PENDING:
            self.pending.pop(next(iter(self.pending)))  # the oldest: its "removed" line never came
        return self.pending.setdefault(qid, {})

    def _delivery(self, qid, state, fields, status, match, line, now) -> dict[str, Any]:
        text = status["tail"].strip(" ,")
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1]
        event = self._base(qid, state, match, line, now, STATUS_TYPES[status["status"]], address(fields["to"]))
        relay = fields.get("relay", "")
        if relay_match := RELAY.match(relay):
            event["mx"] = relay_match["host"]
            event["relay_ip"] = relay_match["addr"]
        if relay and relay != "none":
            event["relay"] = relay
        if dsn := fields.get("dsn"):
            event["enhanced_status"] = dsn
        if code := CODE.search(text):
            event["status_code"] = int(code["code"])
        if delay := fields.get("delay"):
            event["delay_ms"] = round(float(delay) * 1000)
        for key in ("orig_to", "delays", "conn_use"):
            if fields.get(key):
                event[key] = address(fields[key])
        event["response"] = text
        event["postfix_status"] = status["status"]
        event["transport"] = match["prog"].rsplit("/", 1)[1]
        deferred = state.setdefault("deferred", {})
        if event["type"] == "deferred":
            deferred[event["to"]] = {"dsn": dsn, "response": text}
        else:
            deferred.pop(event["to"], None)
        return event

    def _expired(self, qid, state, match, line, now) -> list[dict[str, Any]]:
        """qmgr's "from=<…>, status=expired, returned to sender": every recipient still deferred bounces."""
        events = []
        for to, last in sorted(state.pop("deferred", {}).items()):
            event = self._base(qid, state, match, line + to, now, "bounced", to)
            event.update(response=f"expired in the queue; last attempt: {last['response']}",
                         postfix_status="expired")  # fmt: skip
            if last["dsn"]:
                event["enhanced_status"] = last["dsn"]
            events.append(event)
        return events

    def _rejected(self, match, msg, line, now) -> list[dict[str, Any]]:
        reject = REJECT.match(msg)
        if not reject:
            return []
        fields = {m["key"]: m["value"] for m in FIELD.finditer(reject["fields"])}
        if not fields.get("to"):
            return []
        event = self._base("NOQUEUE", {"from": address(fields.get("from"))}, match, line, now, "rejected",
                           address(fields["to"]))  # fmt: skip
        event.update(status_code=int(reject["code"]), response=f"{reject['code']} {reject['text']}")
        if reject["dsn"]:
            event["enhanced_status"] = reject["dsn"]
        return [event]

    def _base(self, qid, state, match, line, now, kind, to) -> dict[str, Any]:
        stamp = parse_time(match, now or datetime.now(timezone.utc))  # noqa: UP017 (Python 3.9)
        digest = hashlib.sha1(line.encode(errors="replace")).hexdigest()[:20]  # noqa: S324 (an id, not security)
        node = self.node if len(self.node) <= 80 else hashlib.sha1(self.node.encode()).hexdigest()  # noqa: S324
        event = {"event_id": f"{node}:{qid}:{digest}", "time": stamp.isoformat() if stamp else None,
                 "type": kind, "node": self.node, "to": to, "queue_id": qid}  # fmt: skip
        for key in ("from", "message_id", "size"):
            if state.get(key) is not None:
                event[key] = state[key]
        return event


# ------------------------------------------------------------------------------ following


@dataclass
class LogFollower:
    """Reads complete lines from a log file that logrotate may rename (or truncate) at any time;
    the position (inode, offset) is saved by the caller once what was read is safe."""

    path: Path
    inode: int | None = None
    offset: int = 0
    handle: Any = None

    def resume(self, inode: int | None, offset: int) -> None:
        """Continue where a previous run stopped: the same file, or its rotated successor ``.1``."""
        for candidate in (self.path, self.path.with_name(self.path.name + ".1")):
            try:
                if inode is not None and candidate.stat().st_ino == inode:
                    self._open(candidate, offset)
                    return
            except OSError:
                continue
        self._open(self.path, 0)

    def _open(self, path: Path, offset: int) -> None:
        if self.handle:
            self.handle.close()
        try:
            self.handle = open(path, "rb")  # noqa: SIM115 (kept open while following)
        except FileNotFoundError:
            self.handle, self.inode, self.offset = None, None, 0
            return
        self.inode = os.fstat(self.handle.fileno()).st_ino
        size = os.fstat(self.handle.fileno()).st_size
        self.offset = offset if offset <= size else 0  # truncated since: start over
        self.handle.seek(self.offset)

    def lines(self, limit: int = 1000) -> Iterator[str]:
        """Up to ``limit`` complete lines; at the end of a rotated file, moves to the new one."""
        for _ in range(2):
            if self.handle is None:
                self._open(self.path, 0)
                if self.handle is None:
                    return
            produced = 0
            while produced < limit:
                raw = self.handle.readline()
                if not raw.endswith(b"\n"):  # the writer is mid-line: come back later
                    self.handle.seek(self.offset)
                    break
                self.offset += len(raw)
                produced += 1
                yield raw.decode("utf-8", errors="replace")
            if produced or not self._rotated():
                return
            log.info("%s was rotated: following the new file", self.path)
            self._open(self.path, 0)

    def _rotated(self) -> bool:
        try:
            stat = self.path.stat()
        except OSError:
            return False
        return stat.st_ino != self.inode or stat.st_size < self.offset


# -------------------------------------------------------------------------------- shipper


@dataclass
class Shipper:
    config: core.Config
    follower: LogFollower
    outbox: core.Outbox
    state_path: Path
    batch_size: int = 500
    parser: PostfixParser = field(init=False)
    stop: threading.Event = field(default_factory=threading.Event)
    shipped: int = 0
    unsaved: bool = False
    saved_at: float = -1e9

    def __post_init__(self) -> None:
        self.parser = PostfixParser(self.config.hostname)
        state = self._load_state()
        self.parser.pending = state.get("pending", {})
        self.follower.resume(state.get("inode"), int(state.get("offset", 0)))

    def _load_state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}

    def read_batch(self) -> int:
        """Read up to one batch of lines and hand its events to the outbox (sent or spooled).
        Returns the number of lines read."""
        events, count = [], 0
        for line in self.follower.lines(self.batch_size):
            count += 1
            events.extend(e for e in self.parser.feed(line) if e["time"] and e["to"])
        if events:
            self.outbox.submit(core.EVENTS_PATH, json.dumps(events).encode())
            self.shipped += len(events)
        if count:
            self.unsaved = True
            self.save_state(every=SAVE_EVERY)
        return count

    def save_state(self, every: float = 0.0) -> None:
        """Persist the position (and unfinished queue ids) at most every ``every`` seconds.  Saving
        less often than every batch is safe: after a crash the lines since the last save are read
        again, and their events, identified by the same ids, are stored once."""
        if not self.unsaved or time.monotonic() - self.saved_at < every:
            return
        state = {"log": str(self.follower.path), "inode": self.follower.inode, "offset": self.follower.offset,
                 "pending": self.parser.pending}  # fmt: skip
        core.write_durably(self.state_path, json.dumps(state).encode())
        self.unsaved, self.saved_at = False, time.monotonic()

    def run(self, *, once: bool, poll: float = 0.5) -> None:
        try:
            while not self.stop.is_set():
                while self.read_batch() and not self.stop.is_set():
                    self.outbox.drain(budget=5)
                self.save_state()  # caught up with the log
                drained = self.outbox.drain()
                if once and drained:
                    return
                wait = self.outbox.seconds_to_next_try()
                self.stop.wait(max(wait if once else min(poll, wait or poll), 0.05))
        finally:
            self.save_state()


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = core.base_parser(env, prog="mailmon-agent ship-postfix",
                              description="Ship Postfix delivery events from its mail log to mailmon.")  # fmt: skip
    parser.add_argument(
        "--log",
        default=env.get("MAILMON_POSTFIX_LOG") or "/var/log/mail.log",
        help="Postfix's log file (MAILMON_POSTFIX_LOG, default /var/log/mail.log).",
    )
    parser.add_argument("--batch-size", type=int, default=500, help="Lines read per batch.")
    args = parser.parse_args(argv)
    problems: list[str] = []
    config = core.base_config(args, env, problems)
    if problems:
        for problem in problems:
            print(f"mailmon-agent: {problem}", file=sys.stderr)
        return 2
    core.setup_logging(args.verbose)
    log_path = Path(args.log)
    key = hashlib.sha1(str(log_path.resolve()).encode()).hexdigest()[:12]  # noqa: S324 (a file name)
    spool = core.Spool(Path(config.spool) / f"postfix-{key}", config.spool_max)
    shipper = Shipper(config, LogFollower(log_path), core.Outbox(config, spool),
                      Path(config.spool) / f"postfix-{key}.state", batch_size=args.batch_size)  # fmt: skip
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: shipper.stop.set())
    log.info("shipping Postfix events from %s to %s as %s", log_path, config.url, config.hostname)
    shipper.run(once=args.once)
    log.info("stopped: %d events shipped (%d batches waiting in the spool)", shipper.shipped, len(spool))
    refused = shipper.outbox.last is not None and shipper.outbox.last.status in (401, 403)
    return 2 if refused else 0  # a key the portal refuses is a configuration error


if __name__ == "__main__":
    sys.exit(main())
