"""Where webhooks may be sent: public addresses only, unless the allow-list
(WHSTUDIO_WEBHOOK_ALLOWED_HOSTS) names a host, an address or a network.

Two checks use this module. At registration `check_url_host` refuses a URL whose host is
written as a non-public address, in any spelling a resolver accepts (`127.1`, `0x7f000001`,
`2130706433`, `0177.0.0.1`, `[::ffff:127.0.0.1]`, …), and the names `localhost` and
`*.localhost`; it looks nothing up in DNS. At send time `checked_addresses` resolves the host and
refuses it when any address it resolves to is not public; the delivery worker then connects to
those checked addresses only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import unquote, urlsplit

import httpx

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

SETTING = "WHSTUDIO_WEBHOOK_ALLOWED_HOSTS"

_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# The IANA special-purpose ranges that are not globally reachable, and the multicast and
# reserved ones. `is_global` alone is not enough: Python 3.11 calls 192.0.0.8, 224.0.0.1 and
# fec0::1 global.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/8",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")


class Refused(Exception):
    """A webhook's host is, or resolves to, an address webhooks may not reach."""


def why_not_public(address: Address) -> str | None:
    """Return what kind of non-public address this is, in plain words, or None if it is public.

    An IPv6 address that carries an IPv4 one (`::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4
    `2002:…`) is judged by the IPv4 address its packets end up at as well."""
    if isinstance(address, IPv6Address):
        carried = address.ipv4_mapped
        if carried is None and address in _NAT64:
            carried = IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            return why_not_public(carried)
        if address.sixtofour is not None and (why := why_not_public(address.sixtofour)):
            return why
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address.is_unspecified:
        return "the unspecified address (this machine)"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if address.is_multicast:
        return "a multicast address"
    if address in _SHARED:
        return "a carrier-grade NAT address"
    if any(address in n for n in _PRIVATE):
        return "a private network address"
    if not address.is_global or any(address in n for n in _NOT_PUBLIC):
        return "a reserved or special-purpose address"
    return None


def _ipv4_any_form(text: str) -> IPv4Address | None:
    """Return the IPv4 address `text` spells in any form inet_aton and the system resolver
    accept (one to four parts, each decimal, 0x-hex or 0-octal, the last one filling the bytes
    left: `127.1`, `0x7f000001`, `2130706433`, `0177.0.0.1`), or None if it spells none."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", part):
            values.append(int(part[2:], 16))
        elif re.fullmatch(r"0[0-7]*", part):
            values.append(int(part, 8))
        elif re.fullmatch(r"[1-9][0-9]*", part):
            values.append(int(part))
        else:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    return IPv4Address(sum(v << 8 * (3 - i) for i, v in enumerate(head)) + last)


def literal_address(host: str) -> Address | None:
    """Return the address a URL's host is when it is written as an address, in any spelling
    (IPv6 with or without brackets and zone, IPv4 in any inet_aton form, with one trailing
    dot or none), else None.

    Raise ValueError for a host that looks like an address but is none (`1.2.3.999`, `08`, a
    bad IPv6 literal): its last label is a number, which no host name has, and a client might
    read it either way."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in text:
        try:
            return ipaddress.ip_address(unquote(text))
        except ValueError:
            raise ValueError(f"{host} is not a valid IPv6 address") from None
    text = text.removesuffix(".")
    address = _ipv4_any_form(text)
    if address is None and _NUMBER.fullmatch(text.rsplit(".", 1)[-1]):
        raise ValueError(f"{host} is neither a host name nor an IPv4 address")
    return address


@dataclass(frozen=True)
class AllowList:
    """Host names, addresses and networks webhooks may reach although they are not public."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Read a comma-separated list (`127.0.0.1,10.0.0.0/8,[::1],hooks.internal`); raise
        ValueError naming the setting and the first entry that is neither a host name, an IP
        address nor a CIDR network."""
        return _parse(text)

    def allows_name(self, host: str) -> bool:
        """Whether the list names this host (letter case and one trailing dot aside)."""
        return host.removesuffix(".").lower() in self.names

    def allows_address(self, address: Address) -> bool:
        """Whether an address (or the IPv4 address an `::ffff:a.b.c.d` one carries) is in one
        of the listed networks."""
        mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
        if mapped is not None and self.allows_address(mapped):
            return True
        return any(address in n for n in self.networks if n.version == address.version)

    def __str__(self) -> str:
        networks = [
            str(n.network_address) if n.num_addresses == 1 else str(n) for n in self.networks
        ]
        return ",".join([*networks, *sorted(self.names)])


@lru_cache(maxsize=16)
def _parse(text: str) -> AllowList:
    names: set[str] = set()
    networks: list[Network] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        bare = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
        if "/" in bare or ":" in bare:
            try:
                networks.append(ipaddress.ip_network(bare, strict=True))
            except ValueError as exc:
                raise ValueError(
                    f"{SETTING}: {entry!r} is not an IP address or CIDR network ({exc})"
                ) from None
            continue
        try:
            address = literal_address(bare)
        except ValueError:  # its last label is a number: neither an address nor a name
            address, name = None, ""
        else:
            name = bare.removesuffix(".").lower()
        if address is not None:
            if str(address) != bare:
                raise ValueError(f"{SETTING}: write {entry!r} as {address}")
            networks.append(ipaddress.ip_network(address))
        elif name and _NAME.fullmatch(name):
            names.add(name)
        else:
            hint = "" if entry.isascii() else " (write an internationalised name in its xn-- form)"
            raise ValueError(
                f"{SETTING}: {entry!r} is neither a host name, an IP address nor a CIDR "
                f"network{hint}"
            )
    return AllowList(frozenset(names), tuple(networks))


NOTHING_ALLOWED = AllowList()


def _hosts(url: str) -> Iterator[str]:
    """Yield the URL's host as the standard library and then as the HTTP client read it (they
    differ on odd input such as `127。0。0。1`), each also percent-decoded."""
    seen: set[str] = set()
    host = urlsplit(url).hostname or ""
    for spelling in (host, unquote(host)):
        if spelling not in seen:
            seen.add(spelling)
            yield spelling
    try:
        host = httpx.URL(url).raw_host.decode("ascii")
    except httpx.InvalidURL as exc:
        raise ValueError(f"url cannot be sent to: {exc}") from None
    for spelling in (host, unquote(host)):
        if spelling not in seen:
            seen.add(spelling)
            yield spelling


def check_url_host(url: str, allowed: AllowList = NOTHING_ALLOWED) -> None:
    """Raise ValueError, in plain words, when the host of an http(s) URL is written as a
    non-public address the allow-list does not name (in any spelling), or is `localhost` or
    `*.localhost` and the allow-list does not name it. Host names are not looked up here."""
    for host in _hosts(url):
        try:
            address = literal_address(host)
        except ValueError as exc:
            raise ValueError(f"url's host {exc}") from None
        if address is not None:
            why = why_not_public(address)
            if why and not allowed.allows_address(address):
                plain = getattr(address, "ipv4_mapped", None) or address
                shown = "" if host.strip("[]") == str(plain) else f" the address {plain},"
                raise ValueError(
                    f"url's host {host} is{shown} {why}; webhooks go only to public addresses "
                    f"unless {SETTING} names it"
                )
        elif _is_localhost(host) and not allowed.allows_name(host):
            raise ValueError(
                f"url's host {host} is this machine; webhooks go only to public addresses "
                f"unless {SETTING} names it"
            )


def _is_localhost(host: str) -> bool:
    name = host.removesuffix(".").lower()
    return name == "localhost" or name.endswith(".localhost")


async def resolve(host: str, port: int) -> list[Address]:
    """Return every address the system resolver gives for `host`, in its order, each once.
    (The delivery worker calls it through this module, so a test can put its own in place.)"""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


async def checked_addresses(host: str, port: int, allowed: AllowList) -> list[Address]:
    """Resolve `host` once; return its addresses when every one may be reached, else raise
    Refused naming the first that may not. A host name on the allow-list may reach whatever
    it resolves to."""
    addresses = await resolve(host, port)
    if allowed.allows_name(host):
        return addresses
    for address in addresses:
        why = why_not_public(address)
        if why and not allowed.allows_address(address):
            shown = f"{host} is" if host == str(address) else f"{host} resolves to {address},"
            raise Refused(
                f"not sent: {shown} {why}; webhooks go only to public addresses unless "
                f"{SETTING} names it"
            )
    return addresses
