"""Small typed parsers for settings read from the environment.

Each fails loudly on a bad value, naming the variable, and each accepts
``NAME_FILE`` pointing at a file holding the value (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import math
import os
from pathlib import Path


class ConfigError(RuntimeError):
    """A setting in the environment is missing or malformed."""


def envstr(name: str, default: str | None = None) -> str | None:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {file_path}: {exc}") from exc
    value = os.environ.get(name)
    return default if value in (None, "") else value


def envbool(name: str, default: bool = False) -> bool:
    value = envstr(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}: expected a boolean (true/false/1/0), got {value!r}")


def _check_range(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and maximum is not None and not minimum <= number <= maximum:
        raise ConfigError(f"{name}: must be between {minimum:g} and {maximum:g}, got {number:g}")
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name}: must be >= {minimum:g}, got {number:g}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{name}: must be <= {maximum:g}, got {number:g}")


def envint(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = envstr(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: expected an integer, got {value!r}") from exc
    _check_range(name, number, minimum, maximum)
    return number


def envfloat(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    value = envstr(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: expected a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")
    _check_range(name, number, minimum, maximum)
    return number


def envlist(name: str, default: list[str] | None = None) -> list[str]:
    value = envstr(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def envchoice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = envstr(name, default)
    assert value is not None
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def envhostports(name: str) -> list[str]:
    """Comma-separated ``host[:port]`` (IPv6 as ``[addr]:port`` or bare): c-ares server strings."""
    import ipaddress

    servers = []
    for item in envlist(name):
        host, port = item, ""
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":")
        elif item.count(":") == 1:
            host, port = item.split(":")
        try:
            address = ipaddress.ip_address(host)
        except ValueError as exc:
            raise ConfigError(f"{name}: {item!r} is not an IP address with an optional :port") from exc
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(f"{name}: bad port in {item!r}")
        shown = f"[{address}]" if address.version == 6 and port else str(address)
        servers.append(f"{shown}:{port}" if port else shown)
    return servers
