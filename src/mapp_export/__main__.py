"""Allow ``python -m mapp_export``."""

from mapp_export.cli import entry_point

entry_point()
