#!/usr/bin/env python3
"""mailmon node agent: reports a mail server's health to mailmon every 15 seconds.

Standalone on purpose (Python >= 3.9 standard library + psutil): it runs on the mail
servers, not in the portal.  Each report goes to ``POST <MAILMON_URL>/api/v1/nodes/metrics``
with ``Authorization: Api-Key <MAILMON_API_KEY>`` and carries hostname, role, CPU, memory,
swap, disk usage per mount, network byte counters (cumulative, as the kernel counts them),
load averages, the mail queue size (from a command or an HTTP API such as ZoneMTA's) and
whether each configured service is up.

    MAILMON_URL=https://mailmon.example.com MAILMON_API_KEY=... \\
        mailmon_agent.py --role postfix --queue-command 'postqueue -j | wc -l' --unit postfix.service

``--once`` sends one report and exits 0 on success (1 on failure, 2 on a bad key or bad
configuration).  Otherwise the agent loops; when the portal cannot be reached it backs off
(15 s, 30 s, 60 s ... up to 5 min, with jitter) and resumes the normal cadence after the
first success.  Reports are gauges plus cumulative counters, so a missed one is not
resent: the next one supersedes it.  See agent/README.md for installation.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__version__ = "1.0.0"

log = logging.getLogger("mailmon-agent")

METRICS_PATH = "/api/v1/nodes/metrics"
ROLES = ("wildduck", "haraka", "zonemta-outbound", "postfix", "dovecot", "rspamd", "mongodb", "redis", "other")
MAX_BACKOFF = 300.0
COMMAND_TIMEOUT = 10.0
# Pseudo and virtual filesystems say nothing about a mail server's disks.
SKIP_FSTYPES = frozenset({"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "nsfs", "autofs", "iso9660"})


class ConfigError(Exception):
    """Bad configuration: the message names the option."""


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


# ----------------------------------------------------------------------- configuration


def parse_config(
    argv: list[str] | None = None, environ: dict[str, str] | None = None
) -> tuple[Config, argparse.Namespace]:
    """(config, parsed arguments) from the command line, falling back to MAILMON_* variables."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="mailmon-agent", description="Report this mail server's health to mailmon.")
    parser.add_argument("--url", default=env.get("MAILMON_URL"), help="Portal base URL (MAILMON_URL).")
    parser.add_argument("--api-key", default=None, help="Agent API key (MAILMON_API_KEY or MAILMON_API_KEY_FILE).")
    parser.add_argument("--hostname", default=env.get("MAILMON_HOSTNAME") or socket.getfqdn(), help="Node name.")
    parser.add_argument("--role", default=env.get("MAILMON_ROLE"), choices=ROLES, help="Node role (MAILMON_ROLE).")
    parser.add_argument("--interval", type=float, default=float(env.get("MAILMON_INTERVAL") or 15), help="Seconds.")
    parser.add_argument("--queue-command", default=env.get("MAILMON_QUEUE_COMMAND"),
                        help="Shell command printing the queue size, e.g. 'postqueue -j | wc -l'.")
    parser.add_argument("--queue-url", default=env.get("MAILMON_QUEUE_URL"),
                        help="HTTP URL returning the queue as JSON, e.g. ZoneMTA's http://127.0.0.1:12080/queue/default.")
    parser.add_argument("--queue-fields", default=env.get("MAILMON_QUEUE_FIELDS", "queued,deferred"),
                        help="Comma-separated (dotted) JSON fields of --queue-url to add up.")
    parser.add_argument("--process", action="append", default=_env_list(env, "MAILMON_PROCESSES"),
                        help="Service up when a process with this name runs; repeat (MAILMON_PROCESSES).")
    parser.add_argument("--unit", action="append", default=_env_list(env, "MAILMON_UNITS"),
                        help="Service up when this systemd unit is active; repeat (MAILMON_UNITS).")
    parser.add_argument("--mount", action="append", default=_env_list(env, "MAILMON_MOUNTS"),
                        help="Mount point to report; repeat (default: every real filesystem).")
    parser.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout in seconds.")
    parser.add_argument("--ca-file", default=env.get("MAILMON_CA_FILE"), help="CA bundle for a private TLS CA.")
    parser.add_argument("--once", action="store_true", help="Send one report and exit.")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    config = Config(
        url=_checked_url(args.url, "--url/MAILMON_URL"),
        api_key=_api_key(args.api_key, env),
        hostname=args.hostname,
        role=args.role,
        interval=args.interval,
        queue_command=args.queue_command,
        queue_url=_checked_url(args.queue_url, "--queue-url") if args.queue_url else None,
        queue_fields=tuple(f.strip() for f in args.queue_fields.split(",") if f.strip()),
        processes=tuple(args.process),
        units=tuple(args.unit),
        mounts=tuple(args.mount),
        timeout=args.timeout,
        ca_file=args.ca_file,
    )
    if config.interval < 1:
        raise ConfigError("--interval/MAILMON_INTERVAL: must be at least 1 second")
    if not config.hostname or len(config.hostname) > 255:
        raise ConfigError("--hostname: must be 1-255 characters")
    return config, args


def _env_list(env: dict[str, str], name: str) -> list[str]:
    return [item.strip() for item in env.get(name, "").split(",") if item.strip()]


def _checked_url(url: str | None, name: str) -> str:
    if not url:
        raise ConfigError(f"{name}: required (the portal's base URL, e.g. https://mailmon.example.com)")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"{name}: expected an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


def _api_key(cli: str | None, env: dict[str, str]) -> str:
    key = cli or env.get("MAILMON_API_KEY")
    if not key and env.get("MAILMON_API_KEY_FILE"):
        try:
            with open(env["MAILMON_API_KEY_FILE"]) as handle:
                key = handle.read().strip()
        except OSError as exc:
            raise ConfigError(f"MAILMON_API_KEY_FILE: cannot read it ({exc.strerror})") from None
    if not key:
        raise ConfigError("--api-key/MAILMON_API_KEY: required (create one with `manage.py create_agent_key`)")
    return key


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


# ---------------------------------------------------------------------------- delivery


def post_report(config: Config, report: dict[str, Any]) -> int:
    """POST one report; returns the HTTP status (202 on success).  Raises AuthError on 401/403
    and OSError when the portal cannot be reached."""
    request = urllib.request.Request(
        config.url + METRICS_PATH,
        data=json.dumps(report).encode(),
        method="POST",
        headers={
            "Authorization": f"Api-Key {config.api_key}",
            "Content-Type": "application/json",
            "User-Agent": f"mailmon-agent/{__version__}",
        },
    )
    context = ssl.create_default_context(cafile=config.ca_file) if config.url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=config.timeout, context=context) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace")
        if exc.code in (401, 403):
            raise AuthError(f"HTTP {exc.code}: {detail}") from None
        log.warning("report refused: HTTP %s %s", exc.code, detail)
        return exc.code


def next_delay(failures: int, interval: float, rng: random.Random) -> float:
    """Seconds until the next report: the interval, or exponential backoff after failures."""
    if failures <= 0:
        return interval
    return min(MAX_BACKOFF, interval * 2**failures) * rng.uniform(0.8, 1.2)


@dataclass
class Agent:
    config: Config
    psutil_module: Any = None
    stop: threading.Event = field(default_factory=threading.Event)
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0
    sent: int = 0

    def report_once(self, *, cpu_interval: float | None = None) -> bool:
        """Collect and send one report; True when the portal accepted it."""
        report = collect(self.config, self.psutil_module, cpu_interval=cpu_interval)
        try:
            status = post_report(self.config, report)
        except OSError as exc:  # URLError, timeouts, refused connections
            log.warning("cannot reach %s: %s", self.config.url, getattr(exc, "reason", exc))
            return False
        if status == 202:
            self.sent += 1
            return True
        return False

    def run(self) -> None:
        """Report every interval until stop is set; back off while the portal fails."""
        _prime_cpu(self.psutil_module)
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                ok = self.report_once()
            except AuthError as exc:
                # A key can be fixed in the portal without touching the server: keep trying, slowly.
                log.error("the portal refused the API key (%s); retrying in %.0f s", exc, MAX_BACKOFF)
                ok, self.failures = False, 8
            except ConfigError:
                raise
            except Exception:  # a collector hiccup must not kill a daemon that runs for months
                log.exception("collecting the report failed")
                ok = False
            self.failures = 0 if ok else self.failures + 1
            delay = next_delay(self.failures, self.config.interval, self.rng)
            self.stop.wait(max(0.0, delay - (time.monotonic() - started)))


def _prime_cpu(psutil_module: Any) -> None:
    (psutil_module or _psutil()).cpu_percent(interval=None)


def main(argv: list[str] | None = None) -> int:
    try:
        config, args = parse_config(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(message)s")  # fmt: skip
        agent = Agent(config)
        if args.once:
            ok = agent.report_once(cpu_interval=0.5)
            log.info("report for %s %s", config.hostname, "accepted" if ok else "failed")
            return 0 if ok else 1
    except ConfigError as exc:
        print(f"mailmon-agent: {exc}", file=sys.stderr)
        return 2
    except AuthError as exc:
        log.error("the portal refused the API key: %s", exc)
        return 2
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: agent.stop.set())
    log.info("reporting %s to %s every %.0f s", config.hostname, config.url, config.interval)
    agent.run()
    log.info("stopped after %d reports", agent.sent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
