"""Checking with Mapp, before the night, that the credentials and allowance suffice.

``mapp-export validate --online`` fetches a token (so wrong credentials show
now, not at 3 a.m.) and reads the month's usage counter, then says whether the
calculations the plan needs fit in what the month has left. Nothing is
calculated.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from mapp_export.api import MappClient, Usage
from mapp_export.plan import Plan
from mapp_export.settings import Credentials

TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class QuotaCheck:
    """The month's usage and the calculations the plan needs."""

    usage: Usage
    needed: int

    @property
    def fits(self) -> bool:
        """Whether the month's remaining allowance covers the plan."""
        return self.needed <= self.usage.remaining

    def describe(self) -> str:
        """Say in words whether the run fits in the allowance."""
        verdict = (
            "the run fits"
            if self.fits
            else f"the run needs more than the {self.usage.remaining} left this month"
        )
        return f"{self.usage.describe()}; this run needs {self.needed}: {verdict}"


async def check_quota(plan: Plan, credentials: Credentials) -> QuotaCheck:
    """Fetch a token and the usage counter; compare them with the plan's needs."""
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(
        timeout=timeout, trust_env=True, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        client = MappClient(session, plan.api, credentials)
        await client.authenticate()
        usage = await client.usage()
    return QuotaCheck(usage=usage, needed=plan.calculations)
