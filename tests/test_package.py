"""The package's public face."""

from __future__ import annotations

import subprocess
import sys

import mapp_export


class TestPublicApi:
    """What ``import mapp_export`` offers."""

    def test_every_exported_name_resolves(self) -> None:
        """Each name in __all__ is importable and __all__ is sorted."""
        for name in mapp_export.__all__:
            assert getattr(mapp_export, name) is not None

        assert mapp_export.__all__ == sorted(mapp_export.__all__)

    def test_importing_the_package_loads_nothing_heavy(self) -> None:
        """The package import stays cheap, so start-up can take signals at once."""
        probe = "import sys, mapp_export; print('aiohttp' in sys.modules)"

        completed = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        )

        assert completed.stdout.strip() == "False"
