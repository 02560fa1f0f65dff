#!/usr/bin/env python3
"""mailmon node agent: reports a mail server's health to mailmon, and ships its MTA's events.

Standalone on purpose (Python >= 3.9 standard library + psutil): it runs on the mail
servers, not in the portal.  Every ``--interval`` seconds (15 by default) one report goes to
``POST <MAILMON_URL>/api/v1/nodes/metrics`` with ``Authorization: Api-Key <MAILMON_API_KEY>``:
hostname, role, CPU, memory, swap, disk usage per mount, network byte counters (cumulative,
as the kernel counts them), load averages, the mail queue size (from a command or an HTTP API
such as ZoneMTA's) and whether each configured service is up.

    mailmon-agent run [--once]        report every interval (a bare ``mailmon-agent`` does the same)
    mailmon-agent check               validate the configuration and reach the portal with the key
    mailmon-agent ship-postfix --log /var/log/mail.log [--once]   (mailmon_postfix.py)
    mailmon-agent sync-postfix --senders FILE [--once]   Postfix sends from allowed IPs (mailmon_pools.py)

Nothing is lost while the portal is down: a report the portal did not take (no answer, 5xx,
429) goes to a bounded, fsync'd on-disk spool (``MAILMON_SPOOL``) and is replayed in order,
with backoff and jitter, once the portal answers; the portal stores it at its original time.
This one file is enough for ``run`` and ``check``; see agent/README.md for installation.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

__version__ = "1.1.0"

log = logging.getLogger("mailmon-agent")

METRICS_PATH = "/api/v1/nodes/metrics"
EVENTS_PATH = "/api/v1/events/ingest"
ROLES = ("wildduck", "haraka", "zonemta-outbound", "postfix", "dovecot", "rspamd", "mongodb", "redis", "other")
SUBCOMMANDS = ("run", "check", "ship-postfix", "sync-postfix")
DEFAULT_SPOOL = "/var/lib/mailmon-agent"
COMMAND_TIMEOUT = 10.0
# Pseudo and virtual filesystems say nothing about a mail server's disks.
SKIP_FSTYPES = frozenset({"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "nsfs", "autofs", "iso9660"})


class ConfigError(Exception):
    """Bad configuration: one line per problem, each naming the option."""

    def __init__(self, *problems: str):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class AuthError(Exception):
    """The portal refused the key (401/403)."""


@dataclass
class Config:
    url: str
    api_key: str
    hostname: str
    role: str | None = None
    interval: float = 15.0
    queue_command: str | None = None
    queue_url: str | None = None
    queue_fields: tuple[str, ...] = ("queued", "deferred")
    processes: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()  # empty: every real filesystem
    timeout: float = 10.0
    ca_file: str | None = None
    spool: str = DEFAULT_SPOOL
    spool_max: int = 20000  # reports or event batches per stream: 3.5 days of 15 s reports
    max_backoff: float = 60.0
    max_clock_skew: float = 30.0


# ----------------------------------------------------------------------- configuration


def base_parser(env: Mapping[str, str], prog: str = "mailmon-agent", **kwargs: Any) -> argparse.ArgumentParser:
    """The options every subcommand shares: where the portal is, the key, the spool."""
    parser = argparse.ArgumentParser(prog=prog, **kwargs)
    parser.add_argument("--url", default=env.get("MAILMON_URL"), help="Portal base URL (MAILMON_URL).")
    parser.add_argument("--api-key", default=None, help="Agent API key (MAILMON_API_KEY or MAILMON_API_KEY_FILE).")
    parser.add_argument("--hostname", default=env.get("MAILMON_HOSTNAME") or socket.getfqdn(), help="Node name.")
    parser.add_argument(
        "--spool",
        default=env.get("MAILMON_SPOOL") or DEFAULT_SPOOL,
        help=f"Directory for unsent reports and state (MAILMON_SPOOL, default {DEFAULT_SPOOL}).",
    )
    parser.add_argument(
        "--spool-max",
        default=env.get("MAILMON_SPOOL_MAX") or "20000",
        help="Most entries kept per stream; the oldest are dropped (MAILMON_SPOOL_MAX).",
    )
    parser.add_argument(
        "--max-backoff",
        default=env.get("MAILMON_MAX_BACKOFF") or "60",
        help="Longest wait between retries, seconds (MAILMON_MAX_BACKOFF).",
    )
    parser.add_argument("--timeout", default="10", help="HTTP timeout in seconds.")
    parser.add_argument("--ca-file", default=env.get("MAILMON_CA_FILE"), help="CA bundle for a private TLS CA.")
    parser.add_argument("--once", action="store_true", help="Do one round and exit.")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def metrics_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = base_parser(env, description="Report this mail server's health to mailmon.")
    parser.add_argument("--role", default=env.get("MAILMON_ROLE"), help=f"Node role: {', '.join(ROLES)}.")
    parser.add_argument("--interval", default=env.get("MAILMON_INTERVAL") or "15", help="Seconds between reports.")
    parser.add_argument(
        "--queue-command",
        default=env.get("MAILMON_QUEUE_COMMAND"),
        help="Shell command printing the queue size, e.g. 'postqueue -j | wc -l'.",
    )
    parser.add_argument(
        "--queue-url",
        default=env.get("MAILMON_QUEUE_URL"),
        help="HTTP URL returning the queue as JSON, e.g. ZoneMTA's http://127.0.0.1:12080/queue/default.",
    )
    parser.add_argument(
        "--queue-fields",
        default=env.get("MAILMON_QUEUE_FIELDS", "queued,deferred"),
        help="Comma-separated (dotted) JSON fields of --queue-url to add up.",
    )
    parser.add_argument(
        "--process",
        action="append",
        default=_env_list(env, "MAILMON_PROCESSES"),
        help="Service up when a process with this name runs; repeat (MAILMON_PROCESSES).",
    )
    parser.add_argument(
        "--unit",
        action="append",
        default=_env_list(env, "MAILMON_UNITS"),
        help="Service up when this systemd unit is active; repeat (MAILMON_UNITS).",
    )
    parser.add_argument(
        "--mount",
        action="append",
        default=_env_list(env, "MAILMON_MOUNTS"),
        help="Mount point to report; repeat (default: every real filesystem).",
    )
    return parser


def parse_config(
    argv: list[str] | None = None, environ: dict[str, str] | None = None
) -> tuple[Config, argparse.Namespace]:
    """(config, parsed arguments) of ``run``/``check``, falling back to MAILMON_* variables.

    Every problem is collected, so ``check`` can name them all at once (ConfigError.problems)."""
    env = os.environ if environ is None else environ
    args = metrics_parser(env).parse_args(argv)
    problems: list[str] = []
    config = base_config(args, env, problems)
    config.role = args.role
    if args.role and args.role not in ROLES:
        problems.append(f"--role/MAILMON_ROLE: {args.role!r} is not one of {', '.join(ROLES)}")
    config.interval = _number(args.interval, "--interval/MAILMON_INTERVAL", problems, minimum=1, default=15.0)
    config.queue_command = args.queue_command
    if args.queue_url:
        config.queue_url = _checked_url(args.queue_url, "--queue-url/MAILMON_QUEUE_URL", problems)
    config.queue_fields = tuple(f.strip() for f in args.queue_fields.split(",") if f.strip())
    config.processes, config.units, config.mounts = tuple(args.process), tuple(args.unit), tuple(args.mount)
    if problems:
        raise ConfigError(*problems)
    return config, args


def base_config(args: argparse.Namespace, env: Mapping[str, str], problems: list[str]) -> Config:
    """The shared part of the configuration; problems are appended, not raised."""
    config = Config(
        url=_checked_url(args.url, "--url/MAILMON_URL", problems),
        api_key=_api_key(args.api_key, env, problems),
        hostname=args.hostname,
        timeout=_number(args.timeout, "--timeout", problems, minimum=0.1, default=10.0),
        ca_file=args.ca_file,
        spool=args.spool,
        spool_max=int(_number(args.spool_max, "--spool-max/MAILMON_SPOOL_MAX", problems, minimum=1, default=20000)),
        max_backoff=_number(args.max_backoff, "--max-backoff/MAILMON_MAX_BACKOFF", problems, minimum=1, default=60),
    )
    if not config.hostname or len(config.hostname) > 255:
        problems.append("--hostname/MAILMON_HOSTNAME: must be 1-255 characters")
    if config.ca_file and not os.path.isfile(config.ca_file):
        problems.append(f"--ca-file/MAILMON_CA_FILE: {config.ca_file} does not exist")
    return config


def _number(value: str | float, name: str, problems: list[str], *, minimum: float, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        problems.append(f"{name}: expected a number, got {value!r}")
        return default
    if number < minimum:
        problems.append(f"{name}: must be at least {minimum:g}")
        return default
    return number


def _env_list(env: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in env.get(name, "").split(",") if item.strip()]


def _checked_url(url: str | None, name: str, problems: list[str]) -> str:
    if not url:
        problems.append(f"{name}: required (the portal's base URL, e.g. https://mailmon.example.com)")
        return ""
    if not re.match(r"^https?://[^/\s]+", url):
        problems.append(f"{name}: expected an http:// or https:// URL, got {url!r}")
        return ""
    return url.rstrip("/")


def _api_key(cli: str | None, env: Mapping[str, str], problems: list[str]) -> str:
    key = cli or env.get("MAILMON_API_KEY")
    if not key and env.get("MAILMON_API_KEY_FILE"):
        try:
            with open(env["MAILMON_API_KEY_FILE"]) as handle:
                key = handle.read().strip()
        except OSError as exc:
            problems.append(f"MAILMON_API_KEY_FILE: cannot read {env['MAILMON_API_KEY_FILE']} ({exc.strerror})")
            return ""
    if not key:
        problems.append("--api-key/MAILMON_API_KEY: required (create one with `manage.py create_agent_key`)")
    return key or ""


# -------------------------------------------------------------------------- collection


def collect(config: Config, psutil_module: Any = None, *, cpu_interval: float | None = None) -> dict[str, Any]:
    """One report in the /api/v1/nodes/metrics format.

    ``cpu_interval=None`` measures CPU since the previous call (the loop primes it once);
    ``--once`` passes a short interval instead, since a first call has nothing to compare.
    """
    ps = psutil_module or _psutil()
    memory, swap = ps.virtual_memory(), ps.swap_memory()
    net = ps.net_io_counters(pernic=True)
    rx = sum(c.bytes_recv for name, c in net.items() if not name.startswith("lo"))
    tx = sum(c.bytes_sent for name, c in net.items() if not name.startswith("lo"))
    load1, load5, load15 = os.getloadavg()
    report: dict[str, Any] = {
        "hostname": config.hostname,
        # timezone.utc, not datetime.UTC: the agent also runs on servers' older Pythons (>= 3.9).
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),  # noqa: UP017
        "cpu_percent": _percent(ps.cpu_percent(interval=cpu_interval)),
        "memory_percent": _percent(memory.percent),
        "swap_percent": _percent(swap.percent),
        "disks": disks(config, ps),
        "net_rx_bytes": rx,
        "net_tx_bytes": tx,
        "load1": round(load1, 2),
        "load5": round(load5, 2),
        "load15": round(load15, 2),
        "services": services(config, ps),
    }
    if config.role:
        report["role"] = config.role
    queue = queue_size(config)
    if queue is not None:
        report["queue_size"] = queue
    return report


def _psutil() -> Any:
    try:
        import psutil
    except ImportError:
        raise ConfigError("psutil is not installed: apt install python3-psutil (or pip install psutil)") from None
    return psutil


def _percent(value: float) -> float:
    return round(min(100.0, max(0.0, float(value))), 1)


def disks(config: Config, ps: Any) -> dict[str, dict[str, Any]]:
    """{mount: {used_percent, free_bytes, total_bytes}} for the configured or all real mounts."""
    if config.mounts:
        mounts = list(config.mounts)
    else:
        mounts = [p.mountpoint for p in ps.disk_partitions(all=False)
                  if p.fstype not in SKIP_FSTYPES and not p.mountpoint.startswith(("/snap", "/boot/efi"))]  # fmt: skip
    result = {}
    for mount in dict.fromkeys(mounts):
        try:
            usage = ps.disk_usage(mount)
        except OSError as exc:
            log.warning("disk %s: %s", mount, exc)
            continue
        result[mount] = {"used_percent": _percent(usage.percent), "free_bytes": usage.free, "total_bytes": usage.total}
    return result


def services(config: Config, ps: Any, run: Callable[..., Any] = subprocess.run) -> dict[str, bool]:
    """{name: up}: processes by name (or command line basename), systemd units by is-active."""
    result: dict[str, bool] = {}
    if config.processes:
        running = _process_names(ps)
        for name in config.processes:
            result[name] = name in running
    for unit in config.units:
        result[unit] = _unit_active(unit, run)
    return result


def _process_names(ps: Any) -> set[str]:
    names: set[str] = set()
    for proc in ps.process_iter(["name", "cmdline"]):
        info = proc.info
        if info.get("name"):
            names.add(info["name"])
        for arg in (info.get("cmdline") or [])[:2]:  # "node /opt/zone-mta/app.js" -> app.js, node
            names.add(os.path.basename(arg))
    return names


def _unit_active(unit: str, run: Callable[..., Any]) -> bool:
    try:
        done = run(["systemctl", "is-active", "--quiet", unit], timeout=COMMAND_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("unit %s: cannot ask systemctl (%s); reporting it down", unit, exc)
        return False
    return done.returncode == 0


def queue_size(config: Config) -> int | None:
    """The mail queue size from --queue-command or --queue-url; None when not configured or failing."""
    try:
        if config.queue_command:
            return queue_from_command(config.queue_command)
        if config.queue_url:
            return queue_from_url(config.queue_url, config.queue_fields, timeout=config.timeout)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        log.warning("queue size unavailable: %s", exc)
    return None


def queue_from_command(command: str) -> int:
    """Run a shell command (admin-configured, pipes allowed) and read the last integer it prints."""
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    if done.returncode != 0:
        raise ValueError(f"`{command}` exited with {done.returncode}: {done.stderr.strip()[:200]}")
    numbers = re.findall(r"\d+", done.stdout)
    if not numbers:
        raise ValueError(f"`{command}` printed no number")
    return int(numbers[-1])


def queue_from_url(url: str, fields: tuple[str, ...], *, timeout: float) -> int:
    """GET a JSON document: a bare number, or the sum of the given (dotted) numeric fields."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (admin-configured URL)
        document = json.loads(response.read())
    if isinstance(document, (int, float)) and not isinstance(document, bool):
        return int(document)
    total, found = 0, False
    for dotted in fields:
        value: Any = document
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            total, found = total + int(value), True
    if not found:
        raise ValueError(f"{url}: none of the fields {', '.join(fields)} is a number")
    return total


# ------------------------------------------------------------------------------- spool


class Spool:
    """A bounded FIFO of unsent request bodies on disk: one fsync'd file per entry, named by a
    growing sequence number so a directory listing is the replay order.  When full, the oldest
    entry is dropped and counted (``dropped`` file), so a long outage loses the oldest data only.
    One process owns a spool directory; the names are listed once and then kept in memory."""

    def __init__(self, directory: str | Path, max_entries: int = 20000):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_entries = max_entries
        for stale in self.directory.glob("*.tmp"):  # a crash between write and rename
            stale.unlink(missing_ok=True)
        self._names = deque(sorted(p.name for p in self.directory.glob("*.req")))
        self._next = int(self._names[-1].split(".")[0]) + 1 if self._names else 1
        self.dropped = int(self._read("dropped") or 0)

    def __len__(self) -> int:
        return len(self._names)

    def push(self, path: str, body: bytes, content_type: str = "application/json") -> None:
        """Store one request durably (write, fsync, rename, fsync the directory)."""
        while len(self._names) >= self.max_entries:
            self.remove(self._names[0])
            self.dropped += 1
            self._write("dropped", str(self.dropped).encode())
            log.warning("spool %s full (%d entries): dropped the oldest, %d dropped so far",
                        self.directory, self.max_entries, self.dropped)  # fmt: skip
        header = json.dumps({"path": path, "content_type": content_type}).encode()
        name = f"{self._next:020d}.req"
        self._write(name, header + b"\n" + body)
        self._names.append(name)
        self._next += 1

    def peek(self) -> tuple[str, str, str, bytes] | None:
        """(entry name, path, content type, body) of the oldest entry, or None when empty."""
        while self._names:
            name = self._names[0]
            try:
                header, body = (self.directory / name).read_bytes().split(b"\n", 1)
                meta = json.loads(header)
                return name, meta["path"], meta["content_type"], body
            except (OSError, ValueError, KeyError) as exc:
                log.error("spool entry %s unreadable (%s): removed", name, exc)
                self.remove(name)
        return None

    def remove(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)
        if self._names and self._names[0] == name:
            self._names.popleft()
        elif name in self._names:
            self._names.remove(name)

    def _read(self, name: str) -> str | None:
        try:
            return (self.directory / name).read_text()
        except (OSError, ValueError):
            return None

    def _write(self, name: str, data: bytes) -> None:
        write_durably(self.directory / name, data)


def write_durably(target: Path, data: bytes) -> None:
    """Replace ``target`` atomically and fsync it and its directory: it survives a power cut."""
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- delivery

DONE, DROPPED, RETRY = "done", "dropped", "retry"


@dataclass
class Outcome:
    result: str  # DONE, DROPPED or RETRY
    status: int | None = None  # HTTP status, None when there was no answer
    retry_after: float = 0.0
    detail: str = ""


def post(config: Config, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict, bytes]:
    """POST to the portal: (status, headers, body).  Raises OSError when there is no answer."""
    headers = {"Authorization": f"Api-Key {config.api_key}", "Content-Type": content_type,
               "User-Agent": f"mailmon-agent/{__version__}"}  # fmt: skip
    if path == EVENTS_PATH and len(body) > 1024:  # only the ingest API takes gzip
        body, headers["Content-Encoding"] = gzip.compress(body, 5), "gzip"
    request = urllib.request.Request(config.url + path, data=body, method="POST", headers=headers)
    context = ssl.create_default_context(cafile=config.ca_file) if config.url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=config.timeout, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), exc.read()


def clock_skew(headers: dict) -> float | None:
    """Seconds this machine's clock is ahead of the portal's (its ``Date`` header), or None."""
    date = next((v for k, v in headers.items() if k.lower() == "date"), None)
    try:
        portal = parsedate_to_datetime(date).timestamp() if date else None
    except (TypeError, ValueError):
        return None
    return None if portal is None else time.time() - portal


_skew_warned = {"at": -1e9}
SKEW_WARNING_EVERY = 600.0


def warn_clock_skew(skew: float | None, limit: float) -> None:
    """Warn (at most every 10 minutes) when this clock is far from the portal's."""
    if skew is None or abs(skew) <= limit or time.monotonic() - _skew_warned["at"] < SKEW_WARNING_EVERY:
        return
    _skew_warned["at"] = time.monotonic()
    log.warning("this clock is %+.0f s off the portal's (its Date header): reports and events are stored "
                "at the wrong time; run NTP (chrony or systemd-timesyncd)", skew)  # fmt: skip


def send(config: Config, path: str, body: bytes, content_type: str = "application/json") -> Outcome:
    """One attempt, classified by the retry contract (docs/events.md): 2xx done, 429/5xx/no
    answer again, any other 4xx never again."""
    try:
        status, headers, answer = post(config, path, body, content_type)
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections, bad URL
        return Outcome(RETRY, detail=f"cannot reach {config.url}: {getattr(exc, 'reason', exc)}")
    detail = answer[:300].decode(errors="replace")
    warn_clock_skew(clock_skew(headers), config.max_clock_skew)
    if 200 <= status < 300:
        return Outcome(DONE, status, detail=detail)
    if status == 429 or status >= 500:
        retry_after = headers.get("Retry-After") or headers.get("retry-after") or "0"
        seconds = float(retry_after) if retry_after.isdigit() else 0.0
        return Outcome(RETRY, status, seconds, f"HTTP {status}: {detail}")
    return Outcome(DROPPED, status, detail=f"HTTP {status}: {detail}")


@dataclass
class Outbox:
    """Sends request bodies in order; what the portal does not take now waits in the spool.

    While the spool holds anything, new bodies queue behind it (replay keeps the order); retries
    back off exponentially (1 s doubling to ``max_backoff``, +-20 % jitter, at least the portal's
    Retry-After)."""

    config: Config
    spool: Spool
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    next_try: float = 0.0
    sent: int = 0
    dropped: int = 0
    last: Outcome | None = None

    def submit(self, path: str, body: bytes, content_type: str = "application/json") -> None:
        if len(self.spool) == 0 and self.clock() >= self.next_try and self._attempt(path, body, content_type):
            return
        self.spool.push(path, body, content_type)

    def drain(self, budget: float | None = None) -> bool:
        """Replay the spool oldest first until it is empty (True), a retry is due later, or
        ``budget`` seconds have passed."""
        started = self.clock()
        while (entry := self.spool.peek()) is not None:
            if self.clock() < self.next_try or (budget is not None and self.clock() - started > budget):
                return False
            name, path, content_type, body = entry
            if not self._attempt(path, body, content_type):
                return False
            self.spool.remove(name)
        return True

    def seconds_to_next_try(self) -> float:
        return max(0.0, self.next_try - self.clock())

    def _attempt(self, path: str, body: bytes, content_type: str) -> bool:
        """True when the body is finished with (accepted, or refused for good)."""
        self.last = outcome = send(self.config, path, body, content_type)
        if outcome.result == RETRY:
            self.failures += 1
            delay = min(self.config.max_backoff, 2 ** (self.failures - 1)) * self.rng.uniform(0.8, 1.2)
            self.next_try = self.clock() + max(delay, outcome.retry_after)
            log.warning("%s; retrying in %.1f s (%d waiting in the spool)", outcome.detail,
                        self.next_try - self.clock(), len(self.spool))  # fmt: skip
            return False
        self.failures, self.next_try = 0, 0.0
        if outcome.result == DONE:
            self.sent += 1
        else:
            self.dropped += 1
            level = logging.ERROR if outcome.status in (401, 403) else logging.WARNING
            log.log(level, "the portal refused %s for good (%s): dropped", path, outcome.detail)
        return True


# ------------------------------------------------------------------------------- agent


@dataclass
class Agent:
    config: Config
    psutil_module: Any = None
    stop: threading.Event = field(default_factory=threading.Event)
    rng: random.Random = field(default_factory=random.Random)
    outbox: Outbox | None = None

    def __post_init__(self) -> None:
        if self.outbox is None:
            spool = Spool(Path(self.config.spool) / "metrics", self.config.spool_max)
            self.outbox = Outbox(self.config, spool, rng=self.rng)

    @property
    def sent(self) -> int:
        return self.outbox.sent

    def report_once(self, *, cpu_interval: float | None = None) -> bool:
        """Collect one report and hand it to the outbox; True when the portal has everything."""
        report = collect(self.config, self.psutil_module, cpu_interval=cpu_interval)
        self.outbox.submit(METRICS_PATH, json.dumps(report).encode())
        return self.outbox.drain(budget=self.config.interval / 2) and self.outbox.last.result == DONE

    def run(self) -> None:
        """Report every interval until stop is set.  A report is collected on time even while the
        portal is down (it waits in the spool), so an outage leaves no gap."""
        _prime_cpu(self.psutil_module)
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.report_once()
            except ConfigError:
                raise
            except Exception:  # a collector hiccup must not kill a daemon that runs for months
                log.exception("collecting the report failed")
            self.stop.wait(max(0.0, self.config.interval - (time.monotonic() - started)))


def _prime_cpu(psutil_module: Any) -> None:
    (psutil_module or _psutil()).cpu_percent(interval=None)


# ------------------------------------------------------------------------------- check


def check_portal(config: Config) -> list[str]:
    """Problems reaching the portal with the key: an empty body is refused with 400 (not 401/403)
    when the key is good, so nothing is stored."""
    try:
        status, headers, answer = post(config, METRICS_PATH, b"{}")
    except (OSError, ValueError) as exc:
        return [f"--url/MAILMON_URL: cannot reach {config.url} ({getattr(exc, 'reason', exc)})"]
    detail = answer[:200].decode(errors="replace")
    problems = []
    if status == 401:
        problems.append(f"--api-key/MAILMON_API_KEY: the portal does not know this key (revoked or mistyped): {detail}")
    elif status == 403:
        problems.append(f"--api-key/MAILMON_API_KEY: the portal refuses this key from here: {detail}")
    elif status == 404:
        problems.append(f"--url/MAILMON_URL: {config.url} answers 404: not a mailmon portal?")
    elif status != 400:
        problems.append(f"--url/MAILMON_URL: the portal answered HTTP {status}: {detail}")
    else:
        problems += check_node_scope(config)
    skew = clock_skew(headers)
    if skew is not None and abs(skew) > config.max_clock_skew:
        problems.append(f"clock: {skew:+.0f} s off the portal's; run NTP (chrony or systemd-timesyncd)")
    return problems


def check_node_scope(config: Config) -> list[str]:
    """Whether the key may speak for ``--hostname``: a probe event dated 2000-01-01 is always
    refused (older than any retention), and the refusal names the node when the key is
    scoped to another one."""
    probe = {"event_id": "mailmon-agent-check", "time": "2000-01-01T00:00:00Z", "type": "delivered",
             "node": config.hostname, "to": "check@example.invalid"}  # fmt: skip
    try:
        status, _, answer = post(config, EVENTS_PATH, json.dumps([probe]).encode())
        rejected = json.loads(answer).get("rejected") or [{}]
    except (OSError, ValueError, AttributeError):
        return []  # the metrics endpoint answered; nothing more to learn here
    errors = rejected[0].get("errors") or {}
    if status == 400 and "node" in errors:
        return [f"--hostname/MAILMON_HOSTNAME: {config.hostname!r} is not this key's node: {errors['node'][0]}"]
    return []


def check_local(config: Config) -> list[str]:
    """Problems on this machine: psutil, the spool directory, the queue source, the units."""
    problems = []
    try:
        _psutil()
    except ConfigError as exc:
        problems.append(str(exc))
    try:
        Path(config.spool).mkdir(parents=True, exist_ok=True)
        probe = Path(config.spool) / ".check"
        write_durably(probe, b"ok")
        probe.unlink()
    except OSError as exc:
        problems.append(f"--spool/MAILMON_SPOOL: {config.spool} is not writable ({exc.strerror})")
    try:
        if config.queue_command:
            queue_from_command(config.queue_command)
        elif config.queue_url:
            queue_from_url(config.queue_url, config.queue_fields, timeout=config.timeout)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        problems.append(f"--queue-command/--queue-url: {exc}")
    postfix_log = os.environ.get("MAILMON_POSTFIX_LOG")
    if postfix_log and not os.access(postfix_log, os.R_OK):
        problems.append(f"MAILMON_POSTFIX_LOG: cannot read {postfix_log} (ship-postfix needs it; group adm?)")
    return problems


def check(argv: list[str], environ: dict[str, str] | None = None) -> int:
    """``mailmon-agent check``: one line per problem on stderr, exit 1 when there is any."""
    try:
        config, _ = parse_config(argv, environ)
        problems = check_local(config) + check_portal(config)
    except ConfigError as exc:
        problems = exc.problems
    for problem in problems:
        print(f"mailmon-agent: {problem}", file=sys.stderr)
    if not problems:
        print(f"mailmon-agent: OK: {config.url} accepts this key; reports will go out as {config.hostname}")
    return 1 if problems else 0


# -------------------------------------------------------------------------------- main


def setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s")


def main(argv: list[str] | None = None) -> int:
    """``mailmon-agent [run|check|ship-postfix|sync-postfix] …``; no subcommand means ``run``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in SUBCOMMANDS else "run"
    if command == "check":
        return check(argv)
    if command in ("ship-postfix", "sync-postfix"):
        here = os.path.dirname(os.path.realpath(__file__))  # also through a /usr/local/bin symlink
        if here not in sys.path:
            sys.path.append(here)
        module = "mailmon_postfix" if command == "ship-postfix" else "mailmon_pools"
        try:
            imported = __import__(module)
        except ImportError:
            print(f"mailmon-agent: {command} needs {module}.py next to this script "
                  "(or install the package: pip install mailmon-agent)", file=sys.stderr)  # fmt: skip
            return 2
        return imported.main(argv)
    return run(argv)


def run(argv: list[str]) -> int:
    try:
        config, args = parse_config(argv)
        setup_logging(args.verbose)
        agent = Agent(config)
        if args.once:
            ok = agent.report_once(cpu_interval=0.5)
            log.info("report for %s %s", config.hostname, "accepted" if ok else "not delivered (kept in the spool)")
            if agent.outbox.last and agent.outbox.last.status in (401, 403):
                return 2
            return 0 if ok else 1
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"mailmon-agent: {problem}", file=sys.stderr)
        return 2
    except OSError as exc:  # the spool directory
        print(f"mailmon-agent: --spool/MAILMON_SPOOL: {exc}", file=sys.stderr)
        return 2
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: agent.stop.set())
    log.info("reporting %s to %s every %g s", config.hostname, config.url, config.interval)
    agent.run()
    log.info("stopped after %d reports (%d waiting in the spool)", agent.sent, len(agent.outbox.spool))
    return 0


if __name__ == "__main__":
    sys.exit(main())
