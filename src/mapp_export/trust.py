"""Which hosts the bearer token may travel to.

The token goes only to hosts of the allow-list (the configured API and token
hosts, Mapp's own hosts and ``api.trusted_hosts``), matched on host and port,
and only over https, except to a loopback address where nothing crosses a
network.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mapp_export.errors import UntrustedHostError
from mapp_export.settings import is_loopback

DEFAULT_PORTS = {"https": 443, "http": 80}


def check_trusted(url: str, trusted_hosts: tuple[str, ...], *, query: str) -> None:
    """Raise :class:`UntrustedHostError` unless the token may be sent to ``url``."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        host, port, parts = "", None, urlsplit("")
    if parts.scheme not in DEFAULT_PORTS or not host:
        raise UntrustedHostError(
            f"{query}: the API pointed at {url[:80]!r}, which is not a valid "
            "http(s) URL; the token was not sent",
            url=url,
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise UntrustedHostError(
            f"{query}: the API pointed at {origin(url)} over plain http; the token "
            "was not sent: it goes only over https (or to a loopback address)",
            url=url,
        )
    if not host_trusted(parts.scheme, host, port, trusted_hosts):
        raise UntrustedHostError(
            f"{query}: the API pointed at {origin(url)}, which is not a trusted host; "
            "the token was not sent. If that host is genuinely Mapp's, add it "
            "(with its port, if not the default) to api.trusted_hosts in the manifest",
            url=url,
        )


def host_trusted(
    scheme: str, host: str, port: int | None, trusted_hosts: tuple[str, ...]
) -> bool:
    """Whether ``host:port`` is on the allow-list; a missing port is the default."""
    default_port = DEFAULT_PORTS.get(scheme, 443)
    actual_port = port or default_port
    for entry in trusted_hosts:
        parts = urlsplit(f"//{entry}")
        entry_host = (parts.hostname or "").lower()
        entry_port = parts.port or default_port
        if entry_host == host and entry_port == actual_port:
            return True
    return False


def origin(url: str) -> str:
    """Return ``scheme://host:port`` of ``url``: what messages may show of it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
