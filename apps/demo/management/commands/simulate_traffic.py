"""Demo traffic through the real HTTP API: delivery events and node metrics for the demo fleet.

``make demo`` runs it (via ``run_stack --demo``) so every page has data::

    manage.py simulate_traffic [--url http://127.0.0.1:8000] [--ingest-url URL] [--key KEY] [--rate 50]
                               [--duration S] [--backfill 6] [--backfill-rate 10] [--seed N]

It first sends the last ``--backfill`` hours (only the part that has no events yet, so a
restarted demo fills its gap instead of doubling history), ramping up to the live rate in
the last half hour, then sends live traffic at ``--rate`` events/s (daily mean; the
diurnal curve scales it) until ``--duration`` seconds pass or SIGINT/SIGTERM arrives.
Every 15 s each node of the fleet reports metrics to ``POST /api/v1/nodes/metrics`` (during
the backfill: MTAs every 5 and other nodes every 30 simulated minutes); MTAs report the
simulated queue, which follows the deferrals.

The retry contract is the ingest API's: 202 = stored; 429/503 = wait ``Retry-After`` and
send the same batch again; other 5xx and connection errors = back off and resend; other
4xx = log and drop (401/403 stop the run: no batch will ever pass with that key).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max

from apps.demo import simulator
from apps.demo.simulator import Fleet, FleetNode, OutboundNode, SendingAddress, Traffic

INGEST_PATH = "/api/v1/events/ingest"
METRICS_PATH = "/api/v1/nodes/metrics"
BACKFILL_STEP = 60.0  # seconds of simulated time generated per step
# History of node metrics during the backfill: the MTAs' queue every 5 min, the rest every 30
# (each report is one request of ~70 ms, so 15 nodes every 5 min would double the backfill time).
BACKFILL_MTA_METRICS_EVERY = 300.0
BACKFILL_OTHER_METRICS_EVERY = 1800.0
RAMP_SECONDS = 1800.0  # the backfill's last half hour climbs to the live rate: no cliff on charts
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 120.0
PROGRESS_EVERY = 10.0


class AuthRejected(Exception):
    """The server refused the key (401/403): every later request would fail too."""


@dataclass(slots=True)
class Stats:
    batches: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    dropped: int = 0
    retries: int = 0
    metrics: int = 0
    metrics_failed: int = 0

    def summary(self) -> str:
        return (
            f"events sent {self.sent} in {self.batches} batches: accepted {self.accepted}, "
            f"rejected {self.rejected}, dropped {self.dropped}, retries {self.retries}; "
            f"node metrics posted {self.metrics}, failed {self.metrics_failed}"
        )


class ApiClient:
    """JSON POSTs over one keep-alive connection, honouring the ingest retry contract."""

    def __init__(self, url: str, key: str, stop: threading.Event, warn, timeout: float = 30.0):
        parts = urlsplit(url)
        self._factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host, self._port = parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
        self._stop, self._warn, self._timeout = stop, warn, timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, path: str, body: bytes, *, retry: bool = True, stats: Stats | None = None):
        """(status, parsed JSON or None); None when the run stopped before the body got through."""
        backoff = 1.0
        while True:
            try:
                status, headers, payload = self._send(path, body)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                status, headers, payload = None, {}, str(exc)
            if status is not None and status < 400:
                return status, _json(payload)
            if status in (401, 403):
                raise AuthRejected(f"{path}: HTTP {status} {_detail(payload)}")
            if status is not None and status < 500 and status != 429:
                return status, _json(payload)  # never send this body again
            if not retry:
                return None
            wait = _retry_after(headers.get("retry-after")) if status in (429, 503) else None
            if wait is None:
                wait, backoff = backoff, min(MAX_BACKOFF, backoff * 2)
            self._warn(f"{path}: {status or 'connection error'} {_detail(payload)[:120]}; resending in {wait:.0f}s")
            if stats is not None:
                stats.retries += 1
            if self._stop.wait(wait):
                return None

    def _send(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self._conn is None:
            self._conn = self._factory(self._host, self._port, timeout=self._timeout)
        self._conn.request("POST", self._prefix + path, body=body, headers=self._headers)
        response = self._conn.getresponse()
        payload = response.read()
        if response.getheader("connection", "").lower() == "close":
            self.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def _json(payload: bytes | str):
    try:
        return json.loads(payload)
    except (ValueError, TypeError):
        return None


def _detail(payload: bytes | str) -> str:
    parsed = _json(payload)
    if isinstance(parsed, dict) and "detail" in parsed:
        return str(parsed["detail"])
    return payload.decode(errors="replace") if isinstance(payload, bytes) else str(payload)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(MAX_RETRY_AFTER, max(0.1, seconds))


def fleet_from_db() -> Fleet:
    """The fleet as stored: outbound MTAs with their active sending IPs, and every node."""
    from apps.ips.choices import IpStatus
    from apps.ips.models import SendingIP
    from apps.nodes.models import Node

    nodes = list(Node.objects.order_by("hostname").values_list("id", "hostname", "role", "address"))
    ips: dict[int, list[SendingAddress]] = {}
    for node_id, address, pool in (
        SendingIP.objects.filter(status=IpStatus.ACTIVE, node__isnull=False)
        .order_by("address")
        .values_list("node_id", "address", "pool__name")
    ):
        ips.setdefault(node_id, []).append(SendingAddress(address, pool))
    outbound = []
    for node_id, hostname, role, address in nodes:
        if role not in simulator.OUTBOUND_ROLES:
            continue
        # A relay without registered sending IPs sends from its own address.
        own = [SendingAddress(address)] if address else []
        outbound.append(OutboundNode(hostname, role, tuple(ips.get(node_id) or own)))
    return Fleet(outbound=tuple(outbound), nodes=tuple(FleetNode(h, r) for _, h, r, _ in nodes))


def latest_event_time(since: float, until: float) -> float | None:
    from datetime import UTC, datetime

    from apps.events.models import EmailEvent

    latest = EmailEvent.objects.filter(
        time__gte=datetime.fromtimestamp(since, UTC), time__lte=datetime.fromtimestamp(until, UTC)
    ).aggregate(latest=Max("time"))["latest"]
    return latest.timestamp() if latest else None


class TrafficRun:
    """One run: generate with a :class:`Traffic`, post batches and metrics, count outcomes."""

    def __init__(self, *, traffic: Traffic, client: ApiClient, ingest: ApiClient, stop: threading.Event, say, warn,
                 batch_size: int, metrics: bool, metrics_interval: float, seed: int):  # fmt: skip
        self.traffic, self.client, self.ingest, self.stop = traffic, client, ingest, stop
        self.say, self.warn = say, warn
        self.batch_size, self.metrics, self.metrics_interval = batch_size, metrics, metrics_interval
        self.node_metrics = simulator.NodeMetricsModel(seed=seed)
        self.stats = Stats()
        self.buffer: list[dict] = []
        self._announced: set[simulator.Incident] = set()

    def backfill(self, start: float, end: float, *, rate: float, live_rate: float) -> None:
        self.traffic.now = moment = start
        next_mta = next_other = start
        while moment < end and not self.stop.is_set():
            moment = min(end, moment + BACKFILL_STEP)
            ramp = max(0.0, 1 - (end - moment) / RAMP_SECONDS)
            self.traffic.set_rate(rate + (live_rate - rate) * ramp if live_rate > rate else rate)
            self.buffer.extend(self.traffic.advance(moment))
            self._announce(moment)
            self._send_full_batches()
            if self.metrics and moment >= next_mta:
                self.post_metrics(moment, mta_only=moment < next_other)
                next_mta += BACKFILL_MTA_METRICS_EVERY
                if moment >= next_other:
                    next_other += BACKFILL_OTHER_METRICS_EVERY
        self.flush()

    def live(self, *, rate: float, until: float) -> None:
        self.traffic.set_rate(rate)
        next_flush = next_metrics = next_progress = time.time()
        sent_before = self.stats.sent
        while not self.stop.is_set():
            now = min(time.time(), until)
            self.buffer.extend(self.traffic.advance(now))
            self._announce(now)
            self._send_full_batches()
            if now >= next_flush:
                self.flush()
                next_flush = now + 1.0
            if self.metrics and now >= next_metrics:
                self.post_metrics(now)
                next_metrics = now + self.metrics_interval
            if now >= next_progress + PROGRESS_EVERY:
                rate_now = (self.stats.sent - sent_before) / (now - next_progress)
                self.say(f"live: {rate_now:.0f} events/s, queue {sum(self.traffic.queue.values())}; "
                         f"{self.stats.summary()}")  # fmt: skip
                next_progress, sent_before = now, self.stats.sent
            if now >= until:
                break
            self.stop.wait(0.25)
        self.flush(final=True)

    def flush(self, *, final: bool = False) -> None:
        while self.buffer:
            batch, self.buffer = self.buffer[: self.batch_size], self.buffer[self.batch_size :]
            if not self._post_events(batch, retry=not final or not self.stop.is_set()):
                self.stats.dropped += len(batch) + len(self.buffer)
                self.buffer = []

    def _send_full_batches(self) -> None:
        while len(self.buffer) >= self.batch_size and not self.stop.is_set():
            batch, self.buffer = self.buffer[: self.batch_size], self.buffer[self.batch_size :]
            if not self._post_events(batch, retry=True):
                self.stats.dropped += len(batch)

    def _post_events(self, batch: list[dict], *, retry: bool) -> bool:
        """False when the run stopped before the batch got an answer."""
        outcome = self.ingest.post(INGEST_PATH, json.dumps(batch).encode(), retry=retry, stats=self.stats)
        if outcome is None:
            return False
        status, answer = outcome
        self.stats.batches += 1
        self.stats.sent += len(batch)
        if status == 202 or (isinstance(answer, dict) and "accepted" in answer):
            accepted = answer.get("accepted", len(batch)) if isinstance(answer, dict) else len(batch)
            rejected = answer.get("rejected") or [] if isinstance(answer, dict) else []
            self.stats.accepted += accepted
            self.stats.rejected += len(rejected)
            if rejected:
                self.warn(f"ingest rejected {len(rejected)} events, first: {rejected[0]}")
        else:
            self.stats.dropped += len(batch)
            self.warn(f"ingest answered {status}: {str(answer)[:200]}; batch of {len(batch)} dropped")
        return True

    def post_metrics(self, moment: float, *, mta_only: bool = False) -> None:
        for node in self.traffic.fleet.nodes:
            is_mta = node.role in simulator.OUTBOUND_ROLES
            if mta_only and not is_mta:
                continue
            queue = self.traffic.queue[node.hostname] if is_mta else None
            report = self.node_metrics.sample(node, moment, queue_size=queue)
            outcome = self.client.post(METRICS_PATH, json.dumps(report).encode(), retry=False)
            if outcome is not None and outcome[0] == 202:
                self.stats.metrics += 1
            else:
                self.stats.metrics_failed += 1
                if outcome is not None:
                    self.warn(f"metrics for {node.hostname}: HTTP {outcome[0]} {str(outcome[1])[:200]}")
            if self.stop.is_set():
                return

    def _announce(self, moment: float) -> None:
        for incident in self.traffic.active_incidents(moment):
            if incident not in self._announced:
                self._announced.add(incident)
                self.say(f"incident: {incident.describe()}")


class Command(BaseCommand):
    help = "Post realistic demo delivery events and node metrics through the real HTTP API."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Portal base URL.")
        parser.add_argument("--ingest-url", help="Base URL for event batches only (default: --url), e.g. "
                            "the gunicorn ingest port that run_stack starts on PORT+1.")
        parser.add_argument("--key", help="Agent API key (default: the demo key in var/demo_agent_key).")
        parser.add_argument("--rate", type=float, default=50.0, help="Live events/s, daily mean (default 50).")
        parser.add_argument("--duration", type=float, default=0.0, help="Live seconds; 0 = until stopped.")
        parser.add_argument("--backfill", type=float, default=6.0, help="Hours of history to send first.")
        parser.add_argument("--backfill-rate", type=float, default=10.0, help="Events/s during the backfill.")
        parser.add_argument("--seed", type=int, help="Random seed (default: random; printed).")
        parser.add_argument("--batch-size", type=int, default=1000, help="Events per POST (max 10000).")
        parser.add_argument("--metrics-interval", type=float, default=15.0, help="Seconds between node reports.")
        parser.add_argument("--no-metrics", action="store_true", help="Do not post node metrics.")

    def handle(self, *args, **options):
        options = _validated(options)
        fleet = fleet_from_db()
        if not fleet.outbound:
            raise CommandError("no ZoneMTA/Postfix nodes in the database: run `manage.py load_demo` first")
        seed = options["seed"] if options["seed"] is not None else int.from_bytes(os.urandom(4), "big")
        now, stop = time.time(), threading.Event()
        run = self._prepare(fleet, options, seed=seed, now=now, stop=stop)
        target = options["url"] + (f" (events: {options['ingest_url']})" if options["ingest_url"] else "")
        self._say(f"simulating {len(fleet.outbound)} MTAs ({sum(len(n.ips) for n in fleet.outbound)} sending IPs) "
                  f"and {len(fleet.nodes)} nodes -> {target} (seed {seed})")  # fmt: skip
        previous = _on_signals(lambda *_: stop.set())
        try:
            self._run(run, options, now)
        except AuthRejected as exc:
            raise CommandError(f"the server refused the API key: {exc}") from None
        finally:
            _restore_signals(previous)
            run.client.close()
            run.ingest.close()
            self._say(f"stopped: {run.stats.summary()}")

    def _prepare(self, fleet: Fleet, options: dict, *, seed: int, now: float, stop: threading.Event) -> TrafficRun:
        key = options["key"] or _demo_key()
        # Unique per run, so that a second run never collides with the first one's event_ids.
        run_id = f"sim{os.getpid():x}{int(now * 1000):x}"
        client = ApiClient(options["url"], key, stop, self._warn)
        ingest = ApiClient(options["ingest_url"], key, stop, self._warn) if options["ingest_url"] else client
        return TrafficRun(
            traffic=Traffic(fleet=fleet, seed=seed, rate=options["rate"], start=now, run_id=run_id),
            client=client,
            ingest=ingest,
            stop=stop,
            say=self._say,
            warn=self._warn,
            seed=seed,
            batch_size=options["batch_size"],
            metrics=not options["no_metrics"],
            metrics_interval=options["metrics_interval"],
        )

    def _run(self, run: TrafficRun, options: dict, now: float) -> None:
        if options["backfill"] > 0:
            start = now - options["backfill"] * 3600
            latest = latest_event_time(start, now)
            start = max(start, latest or start)
            self._say(f"backfill {(now - start) / 3600:.1f} h at {options['backfill_rate']:g} events/s ...")
            run.backfill(start, now, rate=options["backfill_rate"], live_rate=options["rate"])
            self._say(f"backfill done: {run.stats.summary()}")
        duration = options["duration"]
        until = time.time() + duration if duration > 0 else float("inf")
        run.live(rate=options["rate"], until=until)

    def _say(self, message: str) -> None:
        self.stdout.write(f"{time.strftime('%H:%M:%S')} {message}")

    def _warn(self, message: str) -> None:
        self.stderr.write(f"{time.strftime('%H:%M:%S')} {message}")


def _validated(options: dict) -> dict:
    for name in ("url", "ingest_url"):
        if options[name] is None:
            continue
        url = urlsplit(options[name])
        if url.scheme not in ("http", "https") or not url.hostname:
            raise CommandError(f"--{name.replace('_', '-')}: expected http://host[:port], got {options[name]!r}")
    for name, low in (("rate", 0.0), ("backfill_rate", 0.0), ("metrics_interval", 1.0)):
        if not options[name] > low:
            raise CommandError(f"--{name.replace('_', '-')}: must be greater than {low:g}")
    for name in ("duration", "backfill"):
        if options[name] < 0:
            raise CommandError(f"--{name}: must not be negative")
    if options["backfill"] > 24 * 31:
        raise CommandError("--backfill: at most 744 hours (31 days)")
    if not 1 <= options["batch_size"] <= 10_000:
        raise CommandError("--batch-size: must be between 1 and 10000")
    return options


def _demo_key() -> str:
    from apps.demo.services import demo_agent_key_ensure

    return demo_agent_key_ensure()


def _on_signals(handler) -> dict:
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        # ValueError: not the main thread (e.g. called from a test's worker thread)
        with contextlib.suppress(ValueError):
            previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_signals(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
