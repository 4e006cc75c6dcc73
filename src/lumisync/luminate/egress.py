"""The one guard every user-entered host or URL passes before lumisync connects to it.

An integration's API host and export-file URL are typed by an Administrator; without a guard they
could point the server at its own internal network. Private, loopback and link-local addresses are
refused unless the operator allows them (the bundled simulator runs on loopback).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class EgressRefused(ValueError):
    """A host or URL that lumisync will not connect to; the message says why and what to fix."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int | None
    path: str
    username: str | None


def _is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_host(host: str, *, allow_private: bool, resolve: bool = True) -> str:
    """Return ``host`` (lower-cased) if lumisync may connect to it.

    ``host`` is a bare host name or address, optionally with ``:port``; a scheme, a path, a user name, a
    space or a port that is not a number is refused with a message naming the mistake. With ``resolve``,
    every address the name resolves to is checked, so a public name pointing at a private address is
    refused too.
    """
    value = host.strip()
    if not value:
        raise EgressRefused("The host name is empty.")
    if "@" in value:
        # What comes before the "@" is a user name and password: the message must not repeat it.
        raise EgressRefused(
            "The host name includes a user name or password (before '@'): enter only the host name, such as "
            "secure2.convio.net, and the login in its own fields."
        )
    if any(character.isspace() for character in value):
        raise EgressRefused(
            f"{host!r} contains a space: enter only the host name, such as secure2.convio.net."
        )
    if "://" in value:
        raise EgressRefused(
            f"{host!r} includes a scheme: enter only the host name, such as secure2.convio.net."
        )
    if "/" in value or "?" in value or "#" in value:
        raise EgressRefused(
            f"{host!r} includes a path: enter only the host name, such as secure2.convio.net."
        )
    try:
        parts = urlsplit(f"//{value}")
        # Reading the port refuses one that is not a number from 0 to 65535.
        name, _port = parts.hostname or "", parts.port
    except ValueError:
        raise EgressRefused(
            f"{host!r} is not a valid host name: enter a host name, optionally with ':' and a port number, "
            "such as secure2.convio.net or secure2.convio.net:443."
        ) from None
    if not name:
        raise EgressRefused(f"{host!r} is not a valid host name.")
    if not allow_private:
        _refuse_private(name, resolve=resolve)
    return value.lower()


def check_url(url: str, *, schemes: tuple[str, ...], allow_private: bool, resolve: bool = True) -> Target:
    """Parse ``url`` and return its parts if its scheme is allowed and its host may be reached."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise EgressRefused(f"{url!r} uses the scheme {scheme or '(none)'!r}; allowed: {allowed}.")
    if not parts.hostname:
        raise EgressRefused(f"{url!r} has no host name.")
    try:
        port = parts.port
    except ValueError as exc:
        raise EgressRefused(f"{url!r} has an invalid port.") from exc
    if not allow_private:
        _refuse_private(parts.hostname, resolve=resolve)
    return Target(
        scheme=scheme,
        host=parts.hostname.lower(),
        port=port,
        path=parts.path or "/",
        username=parts.username,
    )


def _refuse_private(name: str, *, resolve: bool) -> None:
    try:
        addresses = [ipaddress.ip_address(name)]
    except ValueError:
        if name.lower() == "localhost" or name.lower().endswith(".localhost"):
            raise EgressRefused(
                f"{name!r} is this server itself; lumisync only connects to public hosts."
            ) from None
        if not resolve:
            return
        try:
            infos = socket.getaddrinfo(name, None)
        except socket.gaierror as exc:
            raise EgressRefused(f"The host {name!r} could not be resolved ({exc.strerror}).") from exc
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        if _is_private(address):
            raise EgressRefused(
                f"{name!r} is a private or local address ({address}); lumisync only connects to public hosts "
                "unless the operator sets LUMISYNC_ALLOW_PRIVATE_HOSTS."
            )
