"""``mailmon-agent sync-postfix``: Postfix sends only from the IPs the portal allows now.

Polls ``GET /api/v1/mta/pools`` (If-None-Match; the last good answer is kept in the spool
directory, so a portal outage — even across a restart — keeps the last decision) and renders,
into files it owns:

* ``<output>/sender_transport``: ``sender_dependent_default_transport_maps`` source (and its
  ``postmap`` table): each sender of ``--senders`` (``user@domain``, ``@domain`` or ``domain``,
  then a pool name) -> the transport of one allowed IP of its pool, spread over the pool's IPs
  by weight (weighted rendezvous hashing: stable, and only the senders of a removed IP move);
  a pool with no allowed IP -> ``retry:`` (deferred, 4.4.5) or, with ``--no-ip default``, no
  entry (Postfix's ``default_transport``);
* one ``smtp`` transport per allowed IP (``-o smtp_bind_address=`` / ``smtp_bind_address6=``),
  written between markers into Postfix's ``master.cf`` (master.cf has no include) and, for
  reference, to ``<output>/master.cf``.

It runs ``postmap`` and ``postfix reload`` only when a rendered file changed, and never writes a
configuration ``postfix check`` rejects: the new files are rendered into a copy of the Postfix
configuration directory, checked there, and only then swapped in.  Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mailmon_agent as core

log = logging.getLogger("mailmon-agent")

POOLS_PATH = "/api/v1/mta/pools"
BEGIN = "# BEGIN mailmon-agent sync-postfix: generated, do not edit (changes are overwritten)"
END = "# END mailmon-agent sync-postfix"
MAP_NAME = "sender_transport"
NO_IP_ACTIONS = ("defer", "default")


class SyncError(Exception):
    """The new configuration was not applied (it stays as it was)."""


# ------------------------------------------------------------------------------ portal


@dataclass
class PoolsState:
    """The last good answer of the portal, on disk (``<spool>/pools.json``)."""

    path: Path
    etag: str | None = None
    answer: dict | None = None

    @classmethod
    def load(cls, path: Path) -> PoolsState:
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", path, exc)
            return cls(path)
        if not valid_answer(saved.get("answer")):
            log.warning("ignoring %s: not a saved pools answer", path)
            return cls(path)
        return cls(path, saved.get("etag"), saved["answer"])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        core.write_durably(self.path, json.dumps({"etag": self.etag, "answer": self.answer}).encode())


def valid_answer(answer: Any) -> bool:
    return isinstance(answer, dict) and isinstance(answer.get("pools"), list) and all(
        isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("ips"), list)
        and all(isinstance(ip, dict) and isinstance(ip.get("address"), str) for ip in p["ips"])
        for p in answer["pools"]
    )  # fmt: skip


def fetch_pools(config: core.Config, state: PoolsState, *, node: str | None) -> str:
    """One poll: 'changed' (new answer saved), 'unchanged' (304) or 'failed' (the last one stays)."""
    query = f"?{urllib.parse.urlencode({'node': node})}" if node else ""
    headers = {"Authorization": f"Api-Key {config.api_key}", "Accept": "application/json",
               "User-Agent": f"mailmon-agent/{core.__version__}"}  # fmt: skip
    if state.etag and state.answer is not None:
        headers["If-None-Match"] = state.etag
    request = urllib.request.Request(config.url + POOLS_PATH + query, headers=headers)
    context = core.ssl.create_default_context(cafile=config.ca_file) if config.url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=config.timeout, context=context) as response:
            status, etag, body = response.status, response.headers.get("ETag"), response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return "unchanged"
        detail = exc.read()[:200].decode(errors="replace")
        log.warning("pools: portal answered HTTP %s: %s%s", exc.code, detail, _keeping(state))
        return "failed"
    except (OSError, ValueError) as exc:
        log.warning("pools: cannot reach %s: %s%s", config.url, getattr(exc, "reason", exc), _keeping(state))
        return "failed"
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if status != 200 or not valid_answer(answer):
        log.warning("pools: the portal's answer is not a pools list%s", _keeping(state))
        return "failed"
    state.etag, state.answer = etag, answer
    state.save()
    return "changed"


def _keeping(state: PoolsState) -> str:
    return " (keeping the last good answer)" if state.answer is not None else " (no answer yet: nothing rendered)"


# ----------------------------------------------------------------------------- render


def read_senders(path: Path) -> dict[str, str]:
    """``sender pool`` lines (``#`` comments): sender as ``user@domain``, ``@domain`` or ``domain``.

    Returns Postfix lookup keys (``user@domain``, ``@domain``) -> pool name."""
    senders: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise core.ConfigError(f"--senders: {path}:{number}: expected 'sender pool', got {raw.strip()!r}")
        sender, pool = parts[0].lower(), parts[1]
        senders[sender if "@" in sender else f"@{sender}"] = pool
    return senders


def transport_name(address: str) -> str:
    """A master.cf service name for one source address: ``mailmon_198_51_100_1``."""
    return "mailmon_" + ipaddress.ip_address(address).compressed.replace(".", "_").replace(":", "_")


def allowed_ips(pool: dict) -> list[dict]:
    """The pool's IPs that are real addresses (anything else is logged and skipped)."""
    good = []
    for ip in pool["ips"]:
        try:
            ipaddress.ip_address(ip["address"])
        except ValueError:
            log.warning("pools: skipping %r in pool %s: not an IP address", ip["address"], pool["name"])
            continue
        good.append(ip)
    return good


def rendezvous(key: str, ips: list[dict]) -> dict:
    """The IP for ``key``, by weighted rendezvous hashing (highest -weight / ln(u) wins)."""

    def score(ip: dict) -> float:
        digest = hashlib.sha256(f"{key}|{ip['address']}".encode()).digest()
        u = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)  # in (0, 1)
        return -max(1, int(ip.get("weight") or 100)) / math.log(u)

    return max(ips, key=score)


@dataclass
class Rendered:
    sender_map: str
    master: str
    routes: dict[str, str] = field(default_factory=dict)  # sender key -> transport or retry


def render(
    answer: dict,
    senders: dict[str, str],
    *,
    no_ip: str = "defer",
    helo: dict[str, str] | None = None,
    bind_enforce: bool = False,
) -> Rendered:
    """The two files, as text, from a pools answer and the sender -> pool config."""
    pools = {p["name"]: allowed_ips(p) for p in answer["pools"]}
    used: dict[str, dict] = {}
    routes: dict[str, str] = {}
    for key in sorted(senders):
        pool = senders[key]
        ips = pools.get(pool)
        if ips:
            ip = rendezvous(key, ips)
            used[ip["address"]] = ip
            routes[key] = f"{transport_name(ip['address'])}:"
        elif no_ip == "defer":
            why = "unknown to the portal" if ips is None else "without an allowed IP now"
            routes[key] = f"retry:4.4.5 mailmon pool {pool} {why}"
        # no_ip == "default": no entry, Postfix's default_transport sends it
    lines = [f"# {BEGIN[2:]}", "# sender (user@domain or @domain) -> transport of an allowed IP of its pool"]
    sender_map = "\n".join(lines + [f"{key}\t{route}" for key, route in routes.items()]) + "\n"
    ips = sorted(used.values(), key=lambda i: i["address"])
    return Rendered(sender_map, master_block(ips, helo or {}, bind_enforce=bind_enforce), routes)


def master_block(ips: list[dict], helo: dict[str, str], *, bind_enforce: bool = False) -> str:
    """The master.cf services (one smtp client per source address), between the markers."""
    out = [BEGIN]
    for ip in ips:
        address = ip["address"]
        name = transport_name(address)
        v6 = ipaddress.ip_address(address).version == 6
        out.append(f"{name} unix - - n - - smtp")
        out.append(f"  -o smtp_bind_address{'6' if v6 else ''}={address}")
        out.append(f"  -o inet_protocols={'ipv6' if v6 else 'ipv4'}")  # never the other family's default source
        if bind_enforce:  # Postfix >= 3.7: defer when the address cannot be bound, not send from another
            out.append("  -o smtp_bind_address_enforce=yes")
        if ip["address"] in helo:
            out.append(f"  -o smtp_helo_name={helo[address]}")
        out.append(f"  -o syslog_name=postfix/{name}")
    out.append(END)
    return "\n".join(out) + "\n"


def splice(master_cf: str, block: str) -> str:
    """``master_cf`` with the managed block replaced (or appended)."""
    start, end = master_cf.find(BEGIN), master_cf.find(END)
    if start == -1 or end == -1:
        return master_cf.rstrip("\n") + "\n\n" + block
    tail = master_cf[end + len(END) :].lstrip("\n")
    return master_cf[:start] + block + tail


# ------------------------------------------------------------------------------ apply


@dataclass
class Postfix:
    """Where and how to apply: the configuration directory and the Postfix commands."""

    config_dir: Path
    output_dir: Path
    sbin: Path = Path("/usr/sbin")

    def run(self, *args: str, config_dir: Path | None = None) -> subprocess.CompletedProcess:
        command = [str(self.sbin / args[0]), "-c", str(config_dir or self.config_dir), *args[1:]]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)


def check_candidate(postfix: Postfix, rendered: Rendered, master_text: str) -> None:
    """Render into a copy of the configuration directory and let Postfix judge it."""
    with tempfile.TemporaryDirectory(prefix="mailmon-postfix-check-") as tmp:
        # The whole directory: main.cf may name maps and files through $config_directory.
        candidate = Path(tmp) / "etc"
        owned = postfix.output_dir.name

        def skip_owned(folder: str, names: list[str]) -> list[str]:
            return [owned] if Path(folder) == postfix.config_dir and owned in names else []

        shutil.copytree(postfix.config_dir, candidate, symlinks=True, ignore=skip_owned)
        (candidate / "master.cf").write_text(master_text)
        (candidate / "mailmon").mkdir()
        (candidate / "mailmon" / MAP_NAME).write_text(rendered.sender_map)
        steps = [
            ("postconf", "-e", f"sender_dependent_default_transport_maps=hash:{candidate / 'mailmon' / MAP_NAME}"),
            ("postmap", f"hash:{candidate / 'mailmon' / MAP_NAME}"),
            ("postconf", "-M"),
            ("postfix", "check"),
        ]
        for step in steps:
            done = postfix.run(*step, config_dir=candidate)
            output = (done.stdout + done.stderr).strip()
            if done.returncode != 0 or "fatal:" in output:
                raise SyncError(f"`{' '.join(step[:2])}` rejects the new configuration: {output[:500]}")
            if "warning:" in output:
                log.warning("`%s` on the new configuration: %s", " ".join(step[:2]), output[:500])


def apply(postfix: Postfix, rendered: Rendered) -> bool:
    """Swap the rendered files in when they differ; postmap and reload.  True when changed."""
    out = postfix.output_dir
    map_path, master_path = out / MAP_NAME, postfix.config_dir / "master.cf"
    current_master = master_path.read_text()
    new_master = splice(current_master, rendered.master)
    old_map = map_path.read_text() if map_path.exists() else None
    if old_map == rendered.sender_map and new_master == current_master and Path(f"{map_path}.db").exists():
        return False
    check_candidate(postfix, rendered, new_master)
    out.mkdir(parents=True, exist_ok=True)
    core.write_durably(out / "master.cf", rendered.master.encode())
    if new_master != current_master:
        _replace_keeping_mode(master_path, new_master)
    core.write_durably(map_path, rendered.sender_map.encode())
    done = postfix.run("postmap", f"hash:{map_path}")
    if done.returncode != 0:
        raise SyncError(f"postmap {map_path} failed: {(done.stdout + done.stderr).strip()[:500]}")
    done = postfix.run("postfix", "reload")
    if done.returncode != 0:
        log.warning("postfix reload failed (is Postfix running?): %s", (done.stdout + done.stderr).strip()[:300])
    return True


def _replace_keeping_mode(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777
    core.write_durably(path, text.encode())
    os.chmod(path, mode)


def supports_bind_enforce(postfix: Postfix) -> bool:
    done = postfix.run("postconf", "-d", "smtp_bind_address_enforce")
    return done.returncode == 0 and "smtp_bind_address_enforce =" in done.stdout


def main_cf_uses_map(postfix: Postfix) -> bool:
    done = postfix.run("postconf", "-h", "sender_dependent_default_transport_maps")
    return str(postfix.output_dir / MAP_NAME) in done.stdout


# ------------------------------------------------------------------------------- main


def parser(env: dict[str, str]) -> argparse.ArgumentParser:
    description = "Render Postfix's per-sender transports from the portal's sending-IP pools."
    p = core.base_parser(env, prog="mailmon-agent sync-postfix", description=description)
    p.add_argument("--senders", default=env.get("MAILMON_POSTFIX_SENDERS") or "/etc/mailmon-agent/senders",
                   help="'sender pool' lines (MAILMON_POSTFIX_SENDERS).")  # fmt: skip
    p.add_argument("--config-dir", default=env.get("MAILMON_POSTFIX_CONFIG_DIR") or "/etc/postfix",
                   help="Postfix's configuration directory (default /etc/postfix).")  # fmt: skip
    p.add_argument("--output-dir", default=None, help="Files this command owns (default <config-dir>/mailmon).")
    p.add_argument("--interval", default=env.get("MAILMON_POOLS_INTERVAL") or "10", help="Seconds between polls.")
    p.add_argument("--no-ip", choices=NO_IP_ACTIONS, default=env.get("MAILMON_POOLS_NO_IP") or "defer",
                   help="A pool without an allowed IP: defer its mail, or send from Postfix's default.")  # fmt: skip
    p.add_argument("--helo", action="append", default=[], metavar="IP=NAME", help="HELO name per source address.")
    p.add_argument("--sbin", default="/usr/sbin", help="Where postfix, postmap and postconf are.")
    return p


def sync_once(config: core.Config, state: PoolsState, postfix: Postfix, senders: dict[str, str], args: Any) -> bool:
    """Poll, render, apply.  False only when the new configuration was refused."""
    fetch_pools(config, state, node=config.hostname)
    if state.answer is None:
        return True
    helo = dict(item.split("=", 1) for item in args.helo)
    rendered = render(state.answer, senders, no_ip=args.no_ip, helo=helo, bind_enforce=args.bind_enforce)
    try:
        changed = apply(postfix, rendered)
    except SyncError as exc:
        log.error("%s; the current configuration stays", exc)
        return False
    if changed:
        log.info("postfix: %d sender route(s) over %d source address(es), reloaded",
                 len(rendered.routes), rendered.master.count(" unix "))  # fmt: skip
    return True


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    args = parser(env).parse_args(argv)
    problems: list[str] = []
    config = core.base_config(args, env, problems)
    interval = core._number(args.interval, "--interval/MAILMON_POOLS_INTERVAL", problems, minimum=1, default=10)
    senders: dict[str, str] = {}
    try:
        senders = read_senders(Path(args.senders))
    except OSError as exc:
        problems.append(f"--senders/MAILMON_POSTFIX_SENDERS: cannot read {args.senders} ({exc.strerror})")
    except core.ConfigError as exc:
        problems += exc.problems
    if any("=" not in item for item in args.helo):
        problems.append("--helo: expected IP=NAME")
    config_dir = Path(args.config_dir)
    if not (config_dir / "master.cf").is_file():
        problems.append(f"--config-dir: no master.cf in {config_dir}")
    if problems:
        for problem in problems:
            print(f"mailmon-agent: {problem}", file=sys.stderr)
        return 2
    core.setup_logging(args.verbose)
    postfix = Postfix(config_dir, Path(args.output_dir or config_dir / "mailmon"), Path(args.sbin))
    if not main_cf_uses_map(postfix):
        log.warning("main.cf does not use %s yet: add sender_dependent_default_transport_maps = hash:%s "
                    "(docs/integrations.md)", postfix.output_dir / MAP_NAME, postfix.output_dir / MAP_NAME)  # fmt: skip
    args.bind_enforce = supports_bind_enforce(postfix)
    state = PoolsState.load(Path(config.spool) / "pools.json")
    if args.once:
        return 0 if sync_once(config, state, postfix, senders, args) else 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    log.info("syncing Postfix (%s) with %s every %g s", config_dir, config.url, interval)
    while not stop.is_set():
        sync_once(config, state, postfix, senders, args)
        stop.wait(interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
