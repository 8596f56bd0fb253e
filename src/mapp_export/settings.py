"""Where the run talks to and with which credentials.

The manifest names the API; the environment and then the command line may
override it. Credentials never come from the manifest: they come from the
environment or from an env-style file the user names.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from mapp_export.errors import CredentialsError, ManifestError

LEGACY_BASE_URL = "https://intelligence.eu.mapp.com/analytics/api"
LEGACY_SCOPE = "mapp.intelligence-api"
CURRENT_API_HOST = "api.mapp.com"
CURRENT_TOKEN_URL = "https://auth.mapp.com/oauth2/token"  # noqa: S105 - a URL
KNOWN_MAPP_HOSTS = ("intelligence.eu.mapp.com", "api.mapp.com", "auth.mapp.com")

CLIENT_ID_VARIABLE = "MAPP_CLIENT_ID"
CLIENT_SECRET_VARIABLE = "MAPP_CLIENT_SECRET"  # noqa: S105 - a variable's name
BASE_URL_VARIABLE = "MAPP_BASE_URL"
TOKEN_URL_VARIABLE = "MAPP_TOKEN_URL"  # noqa: S105 - a variable's name


@dataclass(frozen=True)
class Credentials:
    """An OAuth client id and secret; the secret never shows in a repr."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class Overrides:
    """Settings that win over the manifest: environment first, flags on top.

    ``run_date`` replaces today (in the manifest's time zone) as the date the
    time keywords count back from; ``only`` names the queries to run.
    """

    base_url: str | None = None
    token_url: str | None = None
    output: Path | None = None
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
    ) -> Overrides:
        """Merge the environment's overrides with the command line's."""
        return cls(
            base_url=base_url or environment.get(BASE_URL_VARIABLE) or None,
            token_url=token_url or environment.get(TOKEN_URL_VARIABLE) or None,
            output=output,
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
    where nothing travels over a network.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ManifestError(
            f"{url!r} is not an http(s) URL",
            path=source,
            line=line,
            hint="write it like https://intelligence.eu.mapp.com/analytics/api",
        )

    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ManifestError(
            f"{url!r} would send credentials unencrypted",
            path=source,
            line=line,
            hint="use https://; plain http is accepted only for 127.0.0.1 or localhost",
        )

    return url.rstrip("/")


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


def read_env_file(path: Path) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines; blank lines, comments and ``export`` are allowed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsError(
            f"the credentials file {path} cannot be read ({exc.strerror})"
        ) from exc

    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, value = stripped.removeprefix("export ").partition("=")
        values[key.strip()] = _unquote(value.strip())
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in {"'", '"'}:
        return value[1:-1]

    return value
