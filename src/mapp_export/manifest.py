"""The manifest: a YAML file of named Mapp queries, loaded into a run plan.

Loading checks everything that can be checked without the network: the YAML,
every key and value, the environment variables it refers to, the query files,
the time settings, the sheet titles, and that the workbook and the run
report overwrite neither each other, the manifest nor a query file. Any
problem is a :class:`~mapp_export.errors.ManifestError` naming the file, line
and column, raised before a single request is sent.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from mapp_export.backoff import RetryPolicy
from mapp_export.dates import load_timezone, today_in
from mapp_export.errors import ManifestError
from mapp_export.manifest_errors import translate_validation_error
from mapp_export.manifest_model import (
    ApiSection,
    ManifestSection,
    control_character_problem,
)
from mapp_export.placeholders import PlaceholderError, expand_variables, fill_output
from mapp_export.plan import Plan, PollSettings, QueryPlan, ReportPlan
from mapp_export.query_planning import plan_queries
from mapp_export.run_report import default_report_path
from mapp_export.settings import (
    KNOWN_MAPP_HOSTS,
    ApiSettings,
    Overrides,
    check_host,
    check_url,
    default_token_url,
)
from mapp_export.titles import sheet_title_problem
from mapp_export.yaml_source import YamlDocument, load_yaml

__all__ = [
    "Plan",
    "PollSettings",
    "QueryPlan",
    "ReportPlan",
    "load_plan",
]

logger = logging.getLogger("mapp_export")


def load_plan(
    path: Path,
    overrides: Overrides | None = None,
    *,
    environment: Mapping[str, str] | None = None,
) -> Plan:
    """Load and check the manifest at ``path`` and resolve it into a plan.

    ``environment`` (default: this process's) fills ``${VAR}`` references.
    """
    overrides = overrides or Overrides()
    environment = os.environ if environment is None else environment
    document = load_yaml(path)
    section = _validate(document)

    timezone = load_timezone(section.timezone) if section.timezone else None
    run_date = overrides.run_date or today_in(timezone)
    planned = plan_queries(section, document, run_date)
    for message in planned.warnings:
        logger.warning("%s", message)
    for message in planned.notes:
        logger.info("%s", message)

    selected = _select(tuple(planned.queries), overrides.only)
    chosen = {query.index for query in selected}
    output = _output_path(section, overrides, document, environment, run_date)
    _refuse_collisions(path, planned.query_files, output, overrides)
    return Plan(
        manifest_path=path,
        api=_resolve_api(
            _expand_api(section.api, document, environment), overrides, document
        ),
        output=output,
        concurrency=section.concurrency,
        queries=selected,
        run_date=run_date,
        timezone=timezone,
        warnings=tuple(planned.warnings),
        notes=tuple(planned.notes),
        retry=RetryPolicy(**section.retry.model_dump(exclude_none=True)),
        run_timeout=section.run_timeout,
        left_out=tuple(query for query in planned.queries if query.index not in chosen),
    )


def _validate(document: YamlDocument) -> ManifestSection:
    if not isinstance(document.data, Mapping):
        raise document.error(
            [],
            "the manifest must be a mapping with 'output' and 'queries'",
            hint="start from config/example.yaml",
        )

    try:
        section = ManifestSection.model_validate(document.data)
    except ValidationError as exc:
        raise translate_validation_error(exc, document, ManifestSection) from None

    _reject_duplicate_names(section, document)
    _check_explicit_titles(section, document)
    return section


def _reject_duplicate_names(section: ManifestSection, document: YamlDocument) -> None:
    first_of: dict[str, int] = {}
    for index, query in enumerate(section.queries):
        key = query.name.strip().casefold()
        if key not in first_of:
            first_of[key] = index
            continue

        first_line = document.line_of(["queries", first_of[key], "name"])
        raise document.error(
            ["queries", index, "name"],
            f"the query name {query.name!r} is used twice (first on line {first_line})",
            hint="give each query its own name; names become sheet titles",
        )


def _check_explicit_titles(section: ManifestSection, document: YamlDocument) -> None:
    for index, query in enumerate(section.queries):
        problem = sheet_title_problem(query.sheet) if query.sheet else None
        if problem is None:
            continue

        raise document.error(
            ["queries", index, "sheet"],
            f"the sheet title {query.sheet!r} cannot be used: {problem}",
            hint="choose another 'sheet:' title, or leave it out to derive one",
        )


def _resolve_api(
    section: ApiSection, overrides: Overrides, document: YamlDocument
) -> ApiSettings:
    if overrides.base_url:
        base_url = check_url(overrides.base_url, source=overrides.base_url_source)
    else:
        line = document.line_of(["api", "base_url"])
        base_url = check_url(section.base_url, source=document.path, line=line)

    default_url, default_scope = default_token_url(base_url)
    if overrides.token_url:
        token_url = check_url(overrides.token_url, source=overrides.token_url_source)
    elif section.token_url:
        line = document.line_of(["api", "token_url"])
        token_url = check_url(section.token_url, source=document.path, line=line)
    else:
        token_url = default_url

    scope = section.scope if "scope" in section.model_fields_set else default_scope
    for index, host in enumerate(section.trusted_hosts):
        problem = check_host(host)
        if problem is not None:
            raise document.error(
                ["api", "trusted_hosts", index],
                f"api.trusted_hosts: {problem}",
                hint="write host or host:port, e.g. api.example.com, "
                "127.0.0.1:8080 or [::1]:8080",
            )
    return ApiSettings(
        base_url=base_url,
        token_url=token_url,
        scope=scope or None,
        trusted_hosts=_trusted_hosts(base_url, token_url, section.trusted_hosts),
    )


def _trusted_hosts(
    base_url: str, token_url: str, extra: Sequence[str]
) -> tuple[str, ...]:
    configured = [urlsplit(base_url).netloc, urlsplit(token_url).netloc]
    hosts = [*configured, *KNOWN_MAPP_HOSTS, *extra]
    return tuple(dict.fromkeys(host.lower() for host in hosts))


def _expand_api(
    section: ApiSection, document: YamlDocument, environment: Mapping[str, str]
) -> ApiSection:
    def expand(text: str, location: list[str | int]) -> str:
        try:
            return expand_variables(text, environment)
        except PlaceholderError as exc:
            raise document.error(location, str(exc)) from None

    changes: dict[str, object] = {
        "base_url": expand(section.base_url, ["api", "base_url"]),
        "trusted_hosts": [
            expand(host, ["api", "trusted_hosts", index])
            for index, host in enumerate(section.trusted_hosts)
        ],
    }
    if section.token_url is not None:
        changes["token_url"] = expand(section.token_url, ["api", "token_url"])
    if section.scope is not None:
        changes["scope"] = expand(section.scope, ["api", "scope"])
    return section.model_copy(update=changes)


def _output_path(
    section: ManifestSection,
    overrides: Overrides,
    document: YamlDocument,
    environment: Mapping[str, str],
    run_date: date,
) -> Path:
    manifest = document.path.stem
    if overrides.output is not None:
        try:
            text = fill_output(str(overrides.output), environment, run_date, manifest)
        except PlaceholderError as exc:
            raise ManifestError(str(exc), path="--output") from None
        problem = _output_problem(text)
        if problem is not None:
            raise ManifestError(problem[0], path="--output", hint=problem[1])
        return Path(text)

    try:
        text = fill_output(section.output, environment, run_date, manifest)
    except PlaceholderError as exc:
        raise document.error(["output"], str(exc)) from None
    problem = _output_problem(text)
    if problem is not None:
        raise document.error(["output"], problem[0], hint=problem[1])
    return Path(os.path.normpath(document.path.parent / text))


def _output_problem(text: str) -> tuple[str, str] | None:
    """Say what makes ``text`` unusable as the workbook's path, and what to write."""
    problem = control_character_problem(text)
    if problem is not None:
        return f"the output path {problem}", "check the path and the ${VARIABLES}"
    if Path(text).suffix.lower() != ".xlsx":
        suggestion = Path(text).with_suffix(".xlsx").name
        return (
            f"the output {text!r} does not end in .xlsx; the workbook is an Excel file",
            f"write {suggestion!r} or another name ending in .xlsx",
        )
    return None


def _refuse_collisions(
    manifest: Path, query_files: Sequence[Path], output: Path, overrides: Overrides
) -> None:
    """Refuse a workbook or run report that would overwrite one of the run's files.

    Paths are compared resolved (and by identity when both exist), so
    ``./a.xlsx`` and ``dir/../a.xlsx`` are one file.
    """
    report = overrides.report
    output_source = "--output" if overrides.output is not None else manifest
    inputs = [("the manifest", manifest)] + [
        (f"the query file {str(path)!r}", path) for path in query_files
    ]
    for name, path in inputs:
        if _same_file(output, path):
            raise ManifestError(
                f"the output {str(output)!r} is {name}; the run would overwrite it",
                path=output_source,
                hint="write the workbook to its own .xlsx path",
            )

    report_path = report or default_report_path(output)
    flag = "--report" if report is not None else "the run report"
    _refuse_special_target(output, "the output", output_source)
    _refuse_special_target(report_path, flag, "--report" if report else output_source)
    for name, path in [("the workbook", output), *inputs]:
        if _same_file(report_path, path):
            raise ManifestError(
                f"{flag} {str(report_path)!r} is {name}; the run would overwrite it",
                path="--report" if report is not None else output_source,
                hint="pass --report with a path of its own, such as run.report.json",
            )


def _refuse_special_target(path: Path, name: str, source: Path | str) -> None:
    """Refuse a target that exists but is no regular file, such as ``/dev/null``.

    Files are saved by renaming a new file onto the target, which would put a
    plain file in place of a device, a pipe or a folder.
    """
    if path.exists() and not path.is_file():
        raise ManifestError(
            f"{name} {str(path)!r} exists and is not a regular file (a folder, "
            "device or pipe); saving would replace it",
            path=source,
            hint="name a file path; leave --report out to write it beside the workbook",
        )


def _same_file(first: Path, second: Path) -> bool:
    if first.resolve() == second.resolve():
        return True
    try:
        return first.exists() and second.exists() and first.samefile(second)
    except OSError:
        return False


def _select(
    queries: tuple[QueryPlan, ...], only: Sequence[str]
) -> tuple[QueryPlan, ...]:
    """Keep the queries ``--only`` names (ignoring case); all when it names none."""
    if not only:
        return queries

    by_name = {query.name.strip().casefold(): query for query in queries}
    for name in only:
        if name.strip().casefold() not in by_name:
            names = [query.name for query in queries]
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = (
                f"did you mean {close[0]!r}?" if close else "names: " + ", ".join(names)
            )
            raise ManifestError(f"no query is named {name!r}", path="--only", hint=hint)

    wanted = {name.strip().casefold() for name in only}
    return tuple(query for query in queries if query.name.strip().casefold() in wanted)
