"""Where the run talks to and with which credentials.

The manifest names the API; the environment and then the command line may
override it. Credentials never come from the manifest: they come from the
environment or from an env-style file the user names.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from mapp_export.errors import CredentialsError, ManifestError
from mapp_export.regular_files import is_regular, open_without_blocking

LEGACY_BASE_URL = "https://intelligence.eu.mapp.com/analytics/api"
LEGACY_SCOPE = "mapp.intelligence-api"
CURRENT_API_HOST = "api.mapp.com"
CURRENT_TOKEN_URL = "https://auth.mapp.com/oauth2/token"  # noqa: S105 - a URL
KNOWN_MAPP_HOSTS = ("intelligence.eu.mapp.com", "api.mapp.com", "auth.mapp.com")

CLIENT_ID_VARIABLE = "MAPP_CLIENT_ID"
CLIENT_SECRET_VARIABLE = "MAPP_CLIENT_SECRET"  # noqa: S105 - a variable's name
BASE_URL_VARIABLE = "MAPP_BASE_URL"
TOKEN_URL_VARIABLE = "MAPP_TOKEN_URL"  # noqa: S105 - a variable's name

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INLINE_COMMENT = re.compile(r"\s+#.*$")
_LAST_PORT = 65535
_LONGEST_HOST_NAME = 253
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Credentials:
    """An OAuth client id and secret; the secret never shows in a repr."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class Overrides:
    """Settings that win over the manifest: environment first, flags on top.

    ``run_date`` replaces today (in the manifest's time zone) as the date the
    time keywords count back from; ``only`` names the queries to run;
    ``report`` is where the run report goes, checked against the other files.
    """

    base_url: str | None = None
    token_url: str | None = None
    output: Path | None = None
    report: Path | None = None
    base_url_source: str = BASE_URL_VARIABLE
    token_url_source: str = TOKEN_URL_VARIABLE
    run_date: date | None = None
    only: tuple[str, ...] = ()

    @classmethod
    def combine(  # noqa: PLR0913 - one keyword per overriding flag
        cls,
        environment: Mapping[str, str],
        *,
        base_url: str | None = None,
        token_url: str | None = None,
        output: Path | None = None,
        run_date: date | None = None,
        only: tuple[str, ...] = (),
        report: Path | None = None,
    ) -> Overrides:
        """Merge the environment's overrides with the command line's."""
        return cls(
            base_url=base_url or environment.get(BASE_URL_VARIABLE) or None,
            token_url=token_url or environment.get(TOKEN_URL_VARIABLE) or None,
            output=output,
            report=report,
            run_date=run_date,
            only=only,
            base_url_source="--base-url" if base_url else BASE_URL_VARIABLE,
            token_url_source="--token-url" if token_url else TOKEN_URL_VARIABLE,
        )


@dataclass(frozen=True)
class ApiSettings:
    """The API's base URL, the token endpoint and the hosts trusted with the token."""

    base_url: str
    token_url: str
    scope: str | None
    trusted_hosts: tuple[str, ...]

    @property
    def api_host(self) -> str:
        """The host (and port, where one is given) of the API base URL."""
        return urlsplit(self.base_url).netloc


def default_token_url(base_url: str) -> tuple[str, str | None]:
    """Return the token URL and scope Mapp uses for an API base URL."""
    if urlsplit(base_url).hostname == CURRENT_API_HOST:
        return CURRENT_TOKEN_URL, None

    return f"{base_url.rstrip('/')}/oauth/token", LEGACY_SCOPE


def check_url(url: str, *, source: Path | str, line: int | None = None) -> str:
    """Return ``url`` without a trailing slash, or refuse an unusable one.

    Only ``https`` is accepted, except plain ``http`` to a loopback address,
    where nothing travels over a network. A user name or password in the URL,
    a ``?query`` or a ``#fragment`` is refused; messages never show the
    password.
    """
    shown = repr(_without_userinfo(url))
    problem = _url_problem(url)
    if problem is not None:
        message, hint = problem
        raise ManifestError(f"{shown} {message}", path=source, line=line, hint=hint)

    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ManifestError(
            f"{shown} would send credentials unencrypted",
            path=source,
            line=line,
            hint="use https://; plain http is accepted only for 127.0.0.1 or localhost",
        )

    return url.rstrip("/")


def _url_problem(url: str) -> tuple[str, str] | None:
    """Say what makes ``url`` unusable as an API address, with what to write."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or first_control_character(url) is not None:
        return "is not a valid URL", _URL_EXAMPLE
    if "@" in parts.netloc:
        return "carries a user name or password", _NO_USERINFO
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "is not an http(s) URL", _URL_EXAMPLE
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        return "has a '?query' or '#fragment'", "end it at its path; " + _URL_EXAMPLE
    host_problem = check_host(parts.netloc)
    if host_problem is not None:
        return f"names an unusable host: {host_problem}", _URL_EXAMPLE
    return None


_URL_EXAMPLE = "write it like https://intelligence.eu.mapp.com/analytics/api"
_NO_USERINFO = (
    "remove 'user:password@'; credentials come from MAPP_CLIENT_ID and "
    "MAPP_CLIENT_SECRET or --credentials-file, never from the URL"
)


def _without_userinfo(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.rpartition("@")[2] if "@" in url else url
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def first_control_character(text: str) -> int | None:
    """Return the index of ``text``'s first control character (C0, DEL, C1)."""
    found = _CONTROL_CHARACTER.search(text)
    return found.start() if found else None


def check_host(entry: str) -> str | None:
    """Say what is wrong with ``host`` or ``host:port``, or ``None`` if it is fine.

    The host is a DNS name, an IPv4 address or an IPv6 address in brackets; the
    port, if given, is a number from 1 to 65535.
    """
    host, port = entry, None
    if entry.startswith("["):
        closing = entry.find("]")
        host = entry[: closing + 1] if closing > 0 else entry
        rest = entry[len(host) :]
        if rest:
            if not rest.startswith(":"):
                return f"{entry!r} has text after the bracketed address"
            port = rest[1:]
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    elif ":" in entry:
        return f"{entry!r}: write an IPv6 address in brackets, like [::1]:8080"

    if port is not None and not (port.isdigit() and 1 <= int(port) <= _LAST_PORT):
        return f"{entry!r} has the port {port!r}; a port is a number from 1 to 65535"
    if not _valid_host(host):
        return f"{host!r} is not a host name or IP address"
    return None


def _valid_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True

    labels = host.rstrip(".").split(".")
    return 0 < len(host) <= _LONGEST_HOST_NAME and all(
        _HOST_LABEL.match(label) for label in labels
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface."""
    if host == "localhost":
        return True

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_credentials(
    environment: Mapping[str, str] | None = None, credentials_file: Path | None = None
) -> Credentials:
    """Find the client id and secret in a credentials file or the environment."""
    source = dict(os.environ if environment is None else environment)
    where = "the environment"
    if credentials_file is not None:
        source = read_env_file(credentials_file)
        where = str(credentials_file)

    client_id = source.get(CLIENT_ID_VARIABLE, "").strip()
    client_secret = source.get(CLIENT_SECRET_VARIABLE, "").strip()
    missing = [
        name
        for name, value in (
            (CLIENT_ID_VARIABLE, client_id),
            (CLIENT_SECRET_VARIABLE, client_secret),
        )
        if not value
    ]
    if missing:
        raise CredentialsError(
            f"{' and '.join(missing)} not set in {where}; set them to the OAuth "
            "client id and secret from Mapp Intelligence's settings, or run with "
            "--sandbox to try the tool without an account"
        )

    return Credentials(client_id=client_id, client_secret=client_secret)


MAX_CREDENTIALS_BYTES = 64 * 1024
"""More than any credentials file needs; the rest of a larger file is not read."""


def read_env_file(path: Path) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines as the usual ``.env`` rules have them.

    Blank lines, ``#`` comment lines and an ``export`` prefix are allowed; a
    byte-order mark is ignored. A value in single or double quotes is taken
    as quoted; an unquoted value ends before a ``#`` that follows whitespace
    (an inline comment), so ``KEY=abc # note`` is ``abc`` while ``KEY=a#b`` is
    ``a#b``. A line that is not ``KEY=VALUE`` and a key given twice are
    refused with the line number; messages never show a value.
    """
    try:
        with open_without_blocking(path) as stream:
            if not is_regular(stream):
                raise CredentialsError(
                    f"the credentials file {path} is not a regular file (a folder, "
                    "pipe or device); name the file that holds the two lines"
                )
            text = stream.read(MAX_CREDENTIALS_BYTES).decode("utf-8-sig")
    except OSError as exc:
        raise CredentialsError(
            f"the credentials file {path} cannot be read ({exc.strerror})"
        ) from exc
    except UnicodeDecodeError:
        raise CredentialsError(
            f"the credentials file {path} is not UTF-8 text; save it as UTF-8"
        ) from None

    values: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue

        key, equals, value = stripped.removeprefix("export ").partition("=")
        key = key.strip()
        if not equals or not _ENV_KEY.match(key):
            raise CredentialsError(
                f"{path}:{number}: this line is not KEY=VALUE; write lines like "
                f"{CLIENT_ID_VARIABLE}=..., or start a comment with #"
            )
        if key in first_line:
            raise CredentialsError(
                f"{path}:{number}: {key} is set twice (first on line "
                f"{first_line[key]}); keep one of them"
            )
        first_line[key] = number
        values[key] = _env_value(value.strip())
    return values


def _env_value(value: str) -> str:
    """Unquote a quoted value; cut an unquoted one's inline comment."""
    if value[:1] in {"'", '"'}:
        closing = value.find(value[0], 1)
        if closing > 0:
            return value[1:closing]

    return _INLINE_COMMENT.sub("", value)
