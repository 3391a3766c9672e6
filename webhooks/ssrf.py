"""Where a webhook may be sent: the one rule, checked at registration and
again at every delivery.

* The URL is `https://host[:port][/path][?query]` (`URL_PATTERN`, also in the
  OpenAPI document): no credentials, no fragment, a host name or an IPv4
  address. `http://` only for hosts in `ARCADIA_WEBHOOK_ALLOW_HOSTS`.
* Every address the host resolves to must be public: not loopback, private,
  link-local (cloud metadata: 169.254.169.254), CGNAT, multicast, reserved,
  unspecified, nor the IPv6 metadata address fd00:ec2::254; an IPv4 address
  inside IPv6 (mapped, NAT64) is judged as the IPv4 address. Allow-listed
  hosts are exempt.
* At delivery the host is resolved again and the connection goes to the
  address that was just checked (`Target.address`), never to a second
  lookup: a name that resolves to a public address when checked and to
  127.0.0.1 a moment later (DNS rebinding) cannot reach the inside. For
  https the TLS handshake still names and verifies the host name (SNI and
  certificate), and the Host header is the URL's.

Resolution goes through `resolver` (a module attribute: tests replace it).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from dataclasses import dataclass

from django.conf import settings

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_PATH = r"(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
#: What an endpoint URL may look like (https; http only for allow-listed hosts).
URL_PATTERN = rf"^https://{_HOST}(?::{_PORT})?{_PATH}$"
_URL = re.compile(rf"(https?)://({_HOST})(?::({_PORT}))?({_PATH})\Z")

#: Cloud metadata services, refused by name even where a range would allow them.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

#: How long a delivery re-uses a host's checked addresses. The connection goes
#: to the cached, checked address, so caching cannot be rebound.
RESOLVE_CACHE_SECONDS = 30.0


class UnsafeUrl(ValueError):
    """The URL may not receive webhooks; the message says why (for the owner)."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # as in the URL, lower-cased
    port: int
    path: str  # path and query, at least "/"
    address: str  # the checked address to connect to

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def allowed_hosts() -> frozenset[str]:
    return frozenset(h.lower() for h in settings.ARCADIA_WEBHOOK_ALLOW_HOSTS)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (getaddrinfo), IPv4 and IPv6."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


#: Replaced by tests (a stub resolver for rebinding and for public names).
resolver = system_resolver


def forbidden_reason(address: str) -> str | None:
    """Why `address` may not be a webhook's destination; None if it is public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "is not an IP address"
    if ip in METADATA_ADDRESSES:
        return "is a cloud metadata address"
    if ip.version == 6:
        embedded = ip.ipv4_mapped or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
        )
        if embedded is not None:
            return forbidden_reason(str(embedded))
    for flag, reason in (
        ("is_loopback", "is a loopback address"),
        ("is_link_local", "is a link-local address"),
        ("is_multicast", "is a multicast address"),
        ("is_unspecified", "is an unspecified address"),
        ("is_reserved", "is a reserved address"),
        ("is_private", "is a private address"),
    ):
        if getattr(ip, flag):
            return reason
    if ip.version == 4 and ip in _CGNAT:
        return "is a carrier-grade NAT address"
    if not ip.is_global:
        return "is not a public address"
    return None


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a well-formed URL; `UnsafeUrl` otherwise."""
    match = _URL.fullmatch(url)
    if match is None:
        raise UnsafeUrl(
            "Must be an https:// URL with a host name (no credentials, no fragment), "
            "e.g. https://hooks.example.com/arcadia."
        )
    scheme, host, port, path = match.groups()
    host = host.lower()
    if scheme == "http" and host not in allowed_hosts():
        raise UnsafeUrl("Must use https:// (http:// only for the development allow-list).")
    return scheme, host, int(port) if port else (443 if scheme == "https" else 80), path or "/"


def vet(url: str) -> Target:
    """Parse `url`, resolve its host and check every address: the target to
    connect to. Raises `UnsafeUrl` (with the reason) when it may not be used."""
    scheme, host, port, path = parse(url)
    addresses = _resolve(host, port)
    if host not in allowed_hosts():
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                raise UnsafeUrl(
                    f"The host {host} resolves to {address}, which {reason}: "
                    "webhooks go to public addresses only."
                )
    # IPv4 first: loopback receivers and most hosts answer there.
    address = sorted(addresses, key=lambda a: ":" in a)[0]
    return Target(scheme=scheme, host=host, port=port, path=path, address=address)


def _resolve(host: str, port: int) -> list[str]:
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError, ValueError):
        addresses = []
    if not addresses:
        raise UnsafeUrl(f"The host {host} does not resolve.")
    return addresses


class CachingVetter:
    """`vet` for the delivery worker: a host's check is re-used for
    `RESOLVE_CACHE_SECONDS` (thread-safe). Refusals are not cached."""

    def __init__(self, ttl: float = RESOLVE_CACHE_SECONDS):
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Target]] = {}

    def vet(self, url: str) -> Target:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(url)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        target = vet(url)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[url] = (now, target)
        return target
