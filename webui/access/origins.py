"""Host and Origin headers: the names this server answers to, and the other sites' pages that may talk to it."""
import ipaddress
import re
from dataclasses import dataclass

from flask import request

from ..config import ConfigError, setting_list

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")
DEFAULT_PORTS = {"http": 80, "https": 443}
# A Host header: a name or IPv4 address, or an IPv6 address in brackets; then perhaps a port.
AUTHORITY = r"(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?"
HOST = re.compile(AUTHORITY, re.I)
ORIGIN = re.compile(r"(https?)://" + AUTHORITY, re.I)


def normal_host(name):
    """A host name to compare: lower case, without IPv6 brackets, an IP address in its one canonical spelling."""
    name = name.strip("[]").lower()
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def is_ip(name):
    """Whether a (normalised) host is an IP address rather than a name."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def parse_host(value):
    """(host, port or None) from a Host header; None when it is malformed."""
    match = HOST.fullmatch(value or "")
    if not match or (match[2] and int(match[2]) > 65535):
        return None
    return normal_host(match[1]), int(match[2]) if match[2] else None


def parse_origin(value):
    """(scheme, host, port) of an origin, its default port filled in; None for "null" and anything malformed."""
    match = ORIGIN.fullmatch(value or "")
    if not match:
        return None
    scheme = match[1].lower()
    return scheme, normal_host(match[2]), int(match[3]) if match[3] else DEFAULT_PORTS[scheme]


def origins_setting(config, key):
    """The origins a setting lists, each as (scheme, host, port); a malformed one stops the start."""
    origins = {origin: parse_origin(origin) for origin in setting_list(config[key])}
    for origin, parsed in origins.items():
        if parsed is None:
            raise ConfigError(f"{key}: {origin!r} is not an origin like https://chat.example.org")
    return frozenset(origins.values())


@dataclass(frozen=True)
class Policy:
    """Which names this server answers to and which other sites' pages may talk to it."""

    names: frozenset
    any_address: bool
    origins: frozenset

    @classmethod
    def from_config(cls, config):
        """The loopback names, the address listened on and WEBUI_ALLOWED_HOSTS; WEBUI_ALLOWED_ORIGINS."""
        host = config["WEBUI_HOST"] or ""
        names = {normal_host(n) for n in (*LOOPBACK_NAMES, host, *setting_list(config["WEBUI_ALLOWED_HOSTS"])) if n}
        # DNS rebinding needs a name: a browser sends an address as Host only when it connected to that address.
        return cls(frozenset(names), host in WILDCARD_ADDRESSES, origins_setting(config, "WEBUI_ALLOWED_ORIGINS"))

    def knows(self, host):
        """Whether a Host header's host names this server."""
        return host in self.names or (self.any_address and is_ip(host))

    def allows_origin(self, origin, host, port):
        """Whether a page from `origin` may talk to us: our own origin (as the Host header has it) or an allowed one."""
        parsed = parse_origin(origin)
        own = (request.scheme, host, port or DEFAULT_PORTS.get(request.scheme))
        return parsed is not None and (parsed == own or parsed in self.origins)
