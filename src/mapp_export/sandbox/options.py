"""How a sandbox is set up: credentials, timing, layout, address and outcomes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mapp_export.sandbox.faults import NO_FAULTS, FaultOptions

NEVER = "NEVER"
"""The outcome of a calculation that stays ``RUNNING`` forever."""

FINAL_OUTCOMES = frozenset({"FAILED", "ABORTED", NEVER})
"""The statuses an :class:`OutcomeRule` may give."""

LEGACY_SCOPE = "mapp.intelligence-api"
"""The scope the legacy token endpoint requires."""


@dataclass(frozen=True)
class OutcomeRule:
    """Give every query whose canonical JSON contains ``marker`` a final status.

    ``status`` is ``"FAILED"``, ``"ABORTED"`` or ``"NEVER"`` (stays ``RUNNING``).
    """

    marker: str
    status: str

    def __post_init__(self) -> None:
        """Refuse an unknown status and an empty marker."""
        if self.status not in FINAL_OUTCOMES:
            raise ValueError(
                f"OutcomeRule status {self.status!r} is not one of "
                f"{sorted(FINAL_OUTCOMES)}."
            )
        if not self.marker:
            raise ValueError("OutcomeRule marker must not be empty.")


@dataclass(frozen=True)
class SandboxOptions:
    """The settings of one sandbox.

    ``host`` must be a loopback address (``127.0.0.1``, ``::1``); anything else is
    refused with :class:`ValueError`, so the sandbox never listens beyond the machine.
    ``auth_port`` is used by the ``current`` layout only. ``scope`` is the scope the
    ``legacy`` token endpoint requires (``None``: none required); the ``current``
    layout ignores it. ``result_folder``, when set, makes the sandbox generate each
    result once into that folder and serve it from the file afterwards (see
    :mod:`mapp_export.sandbox.bigresult`), so large results cost it almost nothing.
    ``faults`` injects failures (see :mod:`mapp_export.sandbox.faults`).
    ``links_base_url``, when set, is the base of every ``statusUrl`` and
    ``resultUrl`` instead of the sandbox's own, to check that a client refuses
    links to hosts it does not trust. ``calculations_used`` and
    ``max_calculations_allowed`` set this month's usage as the sandbox starts.
    ``result_stall_seconds`` makes the first download of each result whose
    query's canonical JSON contains ``result_stall_marker`` (every result when
    the marker is empty) send the first half of the body, then wait this long
    before the rest, so a test can stop a client in the middle of a download
    (results served from ``result_folder`` never stall).
    """

    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"  # noqa: S105
    calculation_seconds: float = 2.0
    token_lifetime_seconds: int = 3600
    layout: Literal["legacy", "current"] = "legacy"
    host: str = "127.0.0.1"
    port: int = 0
    auth_port: int = 0
    outcomes: tuple[OutcomeRule, ...] = ()
    scope: str | None = LEGACY_SCOPE
    result_folder: Path | None = None
    faults: FaultOptions = NO_FAULTS
    links_base_url: str | None = None
    calculations_used: int = 0
    max_calculations_allowed: int = 310_000
    result_stall_seconds: float = 0.0
    result_stall_marker: str = ""

    def __post_init__(self) -> None:
        """Refuse settings the sandbox cannot honour."""
        _require_loopback(self.host)
        if self.layout not in {"legacy", "current"}:
            raise ValueError(
                f"layout must be 'legacy' or 'current', not {self.layout!r}."
            )
        if self.calculation_seconds < 0:
            raise ValueError("calculation_seconds must not be negative.")
        if self.result_stall_seconds < 0:
            raise ValueError("result_stall_seconds must not be negative.")
        if self.token_lifetime_seconds < 0:
            raise ValueError("token_lifetime_seconds must not be negative.")
        for port in (self.port, self.auth_port):
            if not 0 <= port <= 65535:
                raise ValueError(f"Port {port} is not between 0 and 65535.")

    def outcome_for(self, canonical: str) -> str:
        """Return the final status of a query with this canonical JSON text."""
        for rule in self.outcomes:
            if rule.marker in canonical:
                return rule.status

        return "SUCCESS"


def _require_loopback(host: str) -> None:
    """Raise :class:`ValueError` unless ``host`` is a loopback IP address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None

    if address is None or not address.is_loopback:
        raise ValueError(
            f"The sandbox listens on a loopback address only, not {host!r}; "
            "use 127.0.0.1."
        )
