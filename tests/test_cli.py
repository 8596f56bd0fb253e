"""The command line: exit codes, messages, and the README's first command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import list_query, sheets_by_calamine, sheets_by_openpyxl, write_manifest
from mapp_export.cli import main
from mapp_export.cli_arguments import build_parser, parse_arguments
from mapp_export.sandbox import Sandbox

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE = REPOSITORY / "config" / "example.yaml"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, threaded_sandbox: Sandbox) -> None:
    """Put the sandbox's credentials into the environment, as a user would."""
    monkeypatch.setenv("MAPP_CLIENT_ID", threaded_sandbox.options.client_id)
    monkeypatch.setenv("MAPP_CLIENT_SECRET", threaded_sandbox.options.client_secret)
    monkeypatch.delenv("MAPP_BASE_URL", raising=False)
    monkeypatch.delenv("MAPP_TOKEN_URL", raising=False)


class TestRun:
    """``mapp-export run``."""

    @pytest.mark.usefixtures("credentials")
    def test_flags_point_any_manifest_at_a_server(
        self,
        threaded_sandbox: Sandbox,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """--base-url and --output override the manifest's host and path; exit 0."""
        manifest = write_manifest(
            tmp_path,
            [("Pages", list_query("pages", 3))],
            base_url="https://intelligence.eu.mapp.com/analytics/api",
        )
        output = tmp_path / "elsewhere.xlsx"

        code = main(
            [
                "run",
                str(manifest),
                "--base-url",
                threaded_sandbox.base_url,
                "--output",
                str(output),
            ]
        )

        assert code == 0
        assert list(sheets_by_openpyxl(output)) == ["Pages", "Summary"]
        printed = capsys.readouterr()
        assert "Pages" in printed.out
        assert "exit code 0" in printed.err

    def test_credentials_file(
        self, threaded_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An env-style credentials file replaces the environment variables."""
        monkeypatch.delenv("MAPP_CLIENT_ID", raising=False)
        monkeypatch.delenv("MAPP_CLIENT_SECRET", raising=False)
        secrets_file = tmp_path / "mapp.env"
        secrets_file.write_text(
            "# Mapp API client\n"
            f"export MAPP_CLIENT_ID={threaded_sandbox.options.client_id}\n"
            f'MAPP_CLIENT_SECRET="{threaded_sandbox.options.client_secret}"\n'
        )
        manifest = write_manifest(
            tmp_path,
            [("Pages", list_query("pages", 3))],
            base_url=threaded_sandbox.base_url,
        )

        code = main(["run", str(manifest), "--credentials-file", str(secrets_file)])

        assert code == 0

    @pytest.mark.usefixtures("credentials")
    def test_manifest_error_is_exit_2_with_its_line(
        self,
        threaded_sandbox: Sandbox,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A manifest error names file and line, exits 2, and sends nothing."""
        manifest = tmp_path / "broken.yaml"
        manifest.write_text(
            f"api:\n  base_url: {threaded_sandbox.base_url}\noutput: x.xlsx\n"
            "queries:\n  - name: A\n    querry: {}\n"
        )

        code = main(["run", str(manifest)])

        assert code == 2
        error = capsys.readouterr().err
        assert f"{manifest}:6:5: unknown key 'querry'" in error
        assert "did you mean 'query'?" in error
        assert threaded_sandbox.state.token_requests == 0

    def test_missing_credentials_is_exit_2_naming_the_variables(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Without credentials the run is refused and says which variables to set."""
        monkeypatch.delenv("MAPP_CLIENT_ID", raising=False)
        monkeypatch.delenv("MAPP_CLIENT_SECRET", raising=False)
        manifest = write_manifest(
            tmp_path,
            [("Pages", list_query())],
            base_url="http://127.0.0.1:9/analytics/api",
        )

        code = main(["run", str(manifest)])

        assert code == 2
        assert (
            "MAPP_CLIENT_ID and MAPP_CLIENT_SECRET not set" in capsys.readouterr().err
        )

    def test_bad_credentials_is_exit_3(
        self,
        threaded_sandbox: Sandbox,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A refused secret exits 3 naming the variable, never printing the secret."""
        monkeypatch.setenv("MAPP_CLIENT_ID", threaded_sandbox.options.client_id)
        monkeypatch.setenv("MAPP_CLIENT_SECRET", "not-the-secret-123")
        manifest = write_manifest(
            tmp_path, [("Pages", list_query())], base_url=threaded_sandbox.base_url
        )

        code = main(["run", str(manifest)])

        printed = capsys.readouterr()
        assert code == 3
        assert "MAPP_CLIENT_SECRET" in printed.err
        assert "not-the-secret-123" not in printed.err + printed.out


class TestValidate:
    """``mapp-export validate``."""

    def test_prints_the_plan_without_the_network(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The example manifest's plan lists every query and its sheet."""
        code = main(["validate", str(EXAMPLE)])

        out = capsys.readouterr().out
        assert code == 0
        assert "Sessions last 90 days" in out
        assert "Days by OS vendor" in out
        assert "calculations: 6" in out


class TestReadmeCommand:
    """The README's first command, run as a user runs it."""

    def test_example_on_the_sandbox_writes_every_sheet(self, tmp_path: Path) -> None:
        """The README's example run on the sandbox writes six sheets and a summary."""
        output = tmp_path / "example.xlsx"
        command = [
            sys.executable,
            "-m",
            "mapp_export",
            "run",
            str(EXAMPLE),
            "--sandbox",
        ]

        completed = subprocess.run(
            [*command, "--output", str(output)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "MAPP_CLIENT_SECRET": "", "MAPP_CLIENT_ID": ""},
        )

        assert completed.returncode == 0, completed.stderr
        sheets = sheets_by_calamine(output)
        assert len(sheets) == 7
        assert list(sheets)[-1] == "Summary"

    def test_sigterm_aborts_running_calculations_and_exits_143(
        self, tmp_path: Path
    ) -> None:
        """SIGTERM while calculations run aborts them with DELETE and exits 143."""
        manifest = write_manifest(
            tmp_path,
            [
                ("Quick", list_query("pages", 3)),
                ("Slow", list_query("pages", 4, marker="x")),
            ],
            base_url="http://127.0.0.1:9/analytics/api",
        )
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mapp_export",
                "-v",
                "run",
                str(manifest),
                "--sandbox",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        for line in process.stderr:
            if "Slow: calculating" in line:
                break
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)

        assert process.returncode == 143
        assert "stopped by SIGTERM" in rest
        assert "calculation aborted" in rest


class TestOutputOptions:
    """Options that go before or after the command."""

    @pytest.mark.parametrize(
        "argv",
        [
            ["-v", "--log-format", "json", "--no-progress", "validate", "m.yaml"],
            ["validate", "m.yaml", "-v", "--log-format", "json", "--no-progress"],
        ],
    )
    def test_are_honoured_on_either_side(self, argv: list[str]) -> None:
        """-v, --log-format and --no-progress mean the same before or after."""
        arguments = parse_arguments(build_parser(), argv)

        assert arguments.verbose
        assert arguments.log_format == "json"
        assert not arguments.progress
        assert not arguments.quiet

    def test_take_their_defaults_when_absent(self) -> None:
        """Without the options, text logs with a live display are the defaults."""
        arguments = parse_arguments(build_parser(), ["schema"])

        assert (arguments.verbose, arguments.quiet) == (False, False)
        assert (arguments.log_format, arguments.progress) == ("text", True)
