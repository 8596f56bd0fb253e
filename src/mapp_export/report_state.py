"""What Mapp answers about a saved report's calculation (``ReportQueryState``).

A report calculation is several analysis calculations, one per report element.
Each element's ``QueryState`` carries a ``resultUrl``; while that state is
``RUNNING`` (or ``INITIATED``) the URL is the element's *status* URL, not its
result, as the contract's "Analysis running" example shows. Only a ``SUCCESS``
state's URL is read as a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mapp_export.errors import ApiError

FINAL_STATUSES = frozenset({"SUCCESS", "FAILED", "ABORTED"})
"""Statuses after which an element's or a report's state no longer changes."""


@dataclass(frozen=True)
class ElementState:
    """One report element's calculation, as the last answer described it."""

    element_id: int | None
    status: str
    calculation_id: str | None
    link: str | None
    """``resultUrl`` as given: a status URL unless ``status`` is ``SUCCESS``."""

    @property
    def result_url(self) -> str | None:
        """The URL of the element's result, once it has succeeded."""
        return self.link if self.status == "SUCCESS" else None

    @property
    def is_final(self) -> bool:
        """Whether the element's calculation has ended."""
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class ReportState:
    """A report calculation's state: its id, title and every element's state."""

    correlation_id: str | None
    status: str
    title: str | None
    elements: tuple[ElementState, ...]

    @property
    def is_final(self) -> bool:
        """Whether nothing in the report will change any more."""
        if self.status in {"FAILED", "ABORTED"}:
            return True
        return bool(self.elements) and all(e.is_final for e in self.elements)

    @property
    def failed(self) -> tuple[ElementState, ...]:
        """The elements that ended without a result."""
        return tuple(e for e in self.elements if e.is_final and e.status != "SUCCESS")


def read_report_state(payload: Mapping[str, Any], *, query: str) -> ReportState:
    """Read a ``ReportQueryState`` body; raise :class:`ApiError` if it is none."""
    states = payload.get("queryStates")
    if not isinstance(states, list):
        raise ApiError(
            f"{query}: the report answer has no queryStates list; Mapp may have "
            "changed the report API"
        )

    details = payload.get("details")
    details = details if isinstance(details, Mapping) else {}
    return ReportState(
        correlation_id=_text(payload.get("reportCorrelationId")),
        status=str(payload.get("status") or "").upper(),
        title=_text(details.get("reportTitle")),
        elements=tuple(_element(state) for state in states),
    )


def _element(state: Any) -> ElementState:
    state = state if isinstance(state, Mapping) else {}
    details = state.get("details")
    details = details if isinstance(details, Mapping) else {}
    element_id = details.get("reportElementId")
    return ElementState(
        element_id=element_id if isinstance(element_id, int) else None,
        status=str(state.get("status") or "").upper(),
        calculation_id=_text(state.get("calculationId")),
        link=_text(state.get("resultUrl")),
    )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
