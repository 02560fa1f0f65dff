"""Mailbox provider from the domain's MX hosts (gmail, microsoft, yahoo, … or the MX domain)."""

from __future__ import annotations

import ipaddress

# MX host suffix → provider
KNOWN_MX = {
    "google.com": "gmail",
    "googlemail.com": "gmail",
    "outlook.com": "microsoft",
    "hotmail.com": "microsoft",
    "yahoodns.net": "yahoo",
    "icloud.com": "apple",
    "me.com": "apple",
    "zoho.com": "zoho",
    "zoho.eu": "zoho",
    "yandex.net": "yandex",
    "yandex.ru": "yandex",
    "mail.ru": "mailru",
    "protonmail.ch": "proton",
    "gmx.net": "gmx",
    "web.de": "webde",
    "secureserver.net": "godaddy",
    "mimecast.com": "mimecast",
    "pphosted.com": "proofpoint",
}
# RFC 6761 / 2606 names never resolve on the Internet: no lookup for them.
SPECIAL_USE = (".test", ".example", ".invalid", ".localhost", ".local", ".internal")


def provider_for_mx(hosts: list[str], domain: str) -> str:
    for host in hosts:
        host = host.lower().rstrip(".")
        for suffix, provider in KNOWN_MX.items():
            if host == suffix or host.endswith("." + suffix):
                return provider
    if hosts:
        labels = hosts[0].lower().rstrip(".").split(".")
        return ".".join(labels[-2:])
    return domain


def _special(domain: str) -> bool:
    if domain == "localhost" or any(domain.endswith(s) or domain == s[1:] for s in SPECIAL_USE):
        return True
    try:
        ipaddress.ip_address(domain.strip("[]"))
        return True
    except ValueError:
        return False


def mx_hosts(domain: str, *, nameservers: list[str], timeout: float) -> list[str]:
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = nameservers
    resolver.lifetime = timeout
    try:
        answer = resolver.resolve(domain, "MX")
    except (dns.exception.DNSException, OSError):
        return []
    return [str(r.exchange) for r in sorted(answer, key=lambda r: r.preference)]


def provider_for_domain(domain: str, *, nameservers: list[str], timeout: float) -> str:
    domain = domain.lower()
    if _special(domain):
        return domain
    return provider_for_mx(mx_hosts(domain, nameservers=nameservers, timeout=timeout), domain)
