"""A local stand-in for Mapp's Analytics API, served over loopback HTTP.

The sandbox answers the token endpoint and the analysis endpoints as Mapp's
contract describes them, with deterministic results shaped like Mapp's. It shares
no code with the client, so a misunderstanding of the contract cannot hide on both
sides. It serves the product's ``--sandbox`` flag, ``mapp-export sandbox`` and the
test suite.
"""

from __future__ import annotations

from mapp_export.sandbox.catalogue import CATALOGUE, CatalogueEntry
from mapp_export.sandbox.faults import FaultOptions
from mapp_export.sandbox.options import OutcomeRule, SandboxOptions
from mapp_export.sandbox.results import build_result
from mapp_export.sandbox.server import (
    Sandbox,
    running_sandbox,
    sandbox_in_thread,
    serve_forever,
    startup_lines,
)
from mapp_export.sandbox.state import SandboxState

__all__ = [
    "CATALOGUE",
    "CatalogueEntry",
    "FaultOptions",
    "OutcomeRule",
    "Sandbox",
    "SandboxOptions",
    "SandboxState",
    "build_result",
    "running_sandbox",
    "sandbox_in_thread",
    "serve_forever",
    "startup_lines",
]
