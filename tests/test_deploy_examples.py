"""The scheduling examples in deploy/: well-formed, and using flags the CLI accepts."""

from __future__ import annotations

import configparser
import runpy
import shlex
import sys
import types
from pathlib import Path
from typing import Any, ClassVar, Self

import pytest

from mapp_export.cli import main

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
AIRFLOW_MODULES = (
    "airflow",
    "airflow.sdk",
    "airflow.providers",
    "airflow.providers.standard",
    "airflow.providers.standard.operators",
    "airflow.providers.standard.operators.bash",
)


def _accepted_by_the_cli(words: list[str], tmp_path: Path) -> int:
    """Run ``mapp-export run`` with the example's options and a missing manifest.

    The command line parses every option first; an unknown one would raise
    SystemExit. The missing manifest then refuses the run before any network.
    """
    run_at = words.index("run")
    options = [
        word.replace("$MAPP_CREDENTIALS", "mapp.env") for word in words[run_at + 2 :]
    ]
    return main(["run", str(tmp_path / "missing.yaml"), *options])


def _cron_entries() -> list[str]:
    text = (DEPLOY / "cron" / "mapp-export.crontab").read_text(encoding="utf-8")
    return [
        line
        for line in text.splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]


def _cron_field_values(field: str, low: int, high: int) -> list[int]:
    values: list[int] = []
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            start, end = low, high
        else:
            first, _, last = span.partition("-")
            start, end = int(first), int(last or first)
        values.extend(range(start, end + 1, int(step or 1)))
    return values


class TestCrontab:
    """deploy/cron/mapp-export.crontab."""

    def test_schedules_are_valid_five_field_times(self) -> None:
        """Each entry has five schedule fields within cron's ranges and no bare %."""
        entries = _cron_entries()

        assert entries
        for entry in entries:
            fields = entry.split()[:5]
            for field, (low, high) in zip(fields, CRON_RANGES, strict=True):
                values = _cron_field_values(field, low, high)
                assert values
                assert all(low <= value <= high for value in values), entry
            assert "%" not in entry

    def test_commands_use_options_the_cli_accepts(self, tmp_path: Path) -> None:
        """Every crontab command's options parse; only its manifest is refused."""
        for entry in _cron_entries():
            words = shlex.split(entry.split(maxsplit=5)[5].split(">>")[0])

            assert _accepted_by_the_cli(words, tmp_path) == 2


class TestSystemd:
    """deploy/systemd/mapp-export@.service and .timer."""

    def test_service_runs_one_manifest_with_accepted_options(
        self, tmp_path: Path
    ) -> None:
        """The templated service is a oneshot whose ExecStart options parse."""
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str  # type: ignore[assignment, method-assign]
        unit.read(DEPLOY / "systemd" / "mapp-export@.service", encoding="utf-8")

        service = unit["Service"]
        words = shlex.split(service["ExecStart"])
        assert service["Type"] == "oneshot"
        assert words[words.index("run") + 1].endswith("/%i.yaml")
        assert _accepted_by_the_cli(words, tmp_path) == 2

    def test_timer_fires_nightly(self) -> None:
        """The timer names a daily calendar time and is persistent."""
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.read(DEPLOY / "systemd" / "mapp-export@.timer", encoding="utf-8")

        assert unit["Timer"]["OnCalendar"] == "*-*-* 02:15:00"
        assert unit["Timer"]["Persistent"] == "true"


class _Recorder:
    """Stands in for Airflow's DAG and BashOperator, recording what is built."""

    tasks: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **arguments: Any) -> None:
        self.arguments = arguments
        if "task_id" in arguments:
            _Recorder.tasks.append(arguments)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


class TestAirflowDag:
    """deploy/airflow/mapp_export_dag.py, loaded with Airflow stood in for."""

    def test_one_task_per_manifest_with_accepted_options(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """Each manifest gets a BashOperator whose command's options parse."""
        monkeypatch.setattr(_Recorder, "tasks", [])
        for name in AIRFLOW_MODULES:
            module = types.ModuleType(name)
            module.DAG = _Recorder  # type: ignore[attr-defined]
            module.BashOperator = _Recorder  # type: ignore[attr-defined]
            monkeypatch.setitem(sys.modules, name, module)

        dag = runpy.run_path(str(DEPLOY / "airflow" / "mapp_export_dag.py"))

        tasks = _Recorder.tasks
        assert [task["task_id"] for task in tasks] == [
            "export_" + manifest.replace("-", "_") for manifest in dag["MANIFESTS"]
        ]
        for task in tasks:
            assert set(task["env"]) == {
                "MAPP_CLIENT_ID",
                "MAPP_CLIENT_SECRET",
                "REPORTS_DIR",
            }
            assert (
                _accepted_by_the_cli(shlex.split(task["bash_command"]), tmp_path) == 2
            )
