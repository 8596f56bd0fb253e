"""Allow ``python -m mapp_export``."""

from mapp_export.launcher import main

main()
