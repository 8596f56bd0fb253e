"""The manifest's JSON Schema, for editors that check YAML as it is typed.

``mapp-export schema > mapp-export.schema.json`` writes it; a manifest that
starts with ``# yaml-language-server: $schema=mapp-export.schema.json`` is then
checked and completed by editors using the YAML language server (VS Code's
YAML extension, Neovim, JetBrains IDEs), with the same keys, types and
choices the loader accepts.

.. note::
   The schema cannot express every check the loader makes (unique query
   names, a query's one source, sheet titles Excel accepts, ``${VAR}`` being
   set); ``mapp-export validate`` makes them all.
"""

from __future__ import annotations

from typing import Any

from mapp_export.manifest_model import ManifestSection

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema dialect pydantic writes."""


def manifest_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of a manifest file."""
    schema = ManifestSection.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        **schema,
        "title": "mapp-export manifest",
        "description": (
            "Named Mapp Intelligence queries run into one Excel workbook; "
            "see the README's manifest reference."
        ),
    }
