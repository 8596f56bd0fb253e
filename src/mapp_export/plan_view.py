"""The plan in words: what ``mapp-export validate`` shows before the night.

For each query: its sheet title, the days its time range covers, the
fingerprint of the body as it will be sent (equal fingerprints are calculated
once) and its line in the manifest; then how many calculations the run will
use, and every warning and note the manifest gave.
"""

from __future__ import annotations

import tablib

from mapp_export.plan import Plan, QueryPlan
from mapp_export.titles import element_titles


def describe_plan(plan: Plan) -> list[str]:
    """Return the lines that show ``plan``, table included."""
    table = tablib.Dataset(
        headers=["#", "query", "sheet", "time range", "fingerprint", "timeout", "line"]
    )
    for query in plan.queries:
        table.append(
            [
                query.index + 1,
                query.name,
                _sheet(query, plan),
                query.time_range.describe() if query.time_range else "as in the query",
                query.fingerprint,
                f"{query.poll.timeout:g}s",
                query.line or "",
            ]
        )

    zone = plan.timezone.key if plan.timezone else "the machine's local time zone"
    lines = [
        f"manifest: {plan.manifest_path}",
        f"api:      {plan.api.base_url} (token: {plan.api.token_url})",
        f"output:   {plan.output}",
        f"run date: {plan.run_date} ({zone})",
        f"calculations: {calculations_text(plan)}",
        f"concurrency: at most {plan.concurrency} calculations at once",
        "",
        table.export("cli", tablefmt="simple"),
    ]
    lines.extend(f"note: {note}" for note in plan.notes)
    lines.extend(f"warning: {warning}" for warning in plan.warnings)
    return lines


def calculations_text(plan: Plan) -> str:
    """Say how many calculations the run uses, equal queries counted once."""
    text = str(plan.calculations)
    saved = sum(1 for query in plan.queries if not query.report) - len(
        {query.fingerprint for query in plan.queries if not query.report}
    )
    if saved:
        text += f" ({saved} equal {'query' if saved == 1 else 'queries'} reused)"
    if plan.open_reports:
        names = ", ".join(repr(query.name) for query in plan.open_reports)
        text += (
            f"; reports {names} count as one each here, their element count is "
            "known once Mapp answers"
        )
    return text


def _sheet(query: QueryPlan, plan: Plan) -> str:
    if query.report is None:
        return query.sheet_title
    if query.report.element_ids:
        labels = [str(element) for element in query.report.element_ids]
        planned = [planned.sheet_title for planned in plan.queries]
        return ", ".join(element_titles(query.sheet_title, labels, planned))
    return f"{query.sheet_title} <element id>, one per element"
