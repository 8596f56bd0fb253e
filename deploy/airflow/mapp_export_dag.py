# ruff: noqa: INP001 - a DAG file copied into Airflow's DAGs folder, not a package
"""Airflow DAG: one mapp-export task per manifest, every night.

Copy this file into the DAGs folder and list your manifests in ``MANIFESTS``.
Each task runs ``mapp-export run MANIFEST`` with BashOperator on a worker where
mapp-export is installed (``MAPP_EXPORT`` below), and fails when the command
exits non-zero:

- 0: every query exported: the task succeeds;
- 1: some queries failed, the workbook holds the others: the task fails
  (``PARTIAL_FAILS_TASK = True``) so someone looks; set it to ``False`` to let
  the task succeed on a partial workbook and read the failures from the run
  report instead;
- 2: refused before anything was sent (manifest, command line, credentials,
  output folder): the task fails; fix the cause (the one retry is refused
  again at once, before anything is sent, so it costs nothing);
- 3: nothing exported (refused credentials, every query failed, the workbook
  could not be written); the previous workbook is untouched: the task fails
  and is retried once, which helps when Mapp or the network was down;
- 143: stopped by SIGTERM (the task was killed or timed out): running
  calculations were aborted and what had finished was written: the task fails.

Credentials come from the Airflow connection ``mapp_analytics`` (login = client
id, password = client secret); Airflow masks the password in task logs and
mapp-export never logs it. The ``mapp_api`` pool (create it with as many slots
as Mapp calculations you may run at once, divided by each manifest's
``concurrency``) keeps many manifests from exhausting the account's limits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

try:
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

MAPP_EXPORT = "/srv/mapp-export/.venv/bin/mapp-export"
MANIFEST_FOLDER = "/srv/mapp-export/manifests"
REPORTS_DIR = "/srv/mapp-export/output"
"""Where the manifests' ``${REPORTS_DIR}/...`` outputs go: an absolute folder."""
MANIFESTS = ["nightly", "weekly-campaigns", "shop-funnel"]
PARTIAL_FAILS_TASK = True


def _command(manifest: str) -> str:
    run = (
        f"{MAPP_EXPORT} run {MANIFEST_FOLDER}/{manifest}.yaml "
        "--log-format json --no-progress"
    )
    if PARTIAL_FAILS_TASK:
        return run
    return f"{run} || [ $? -eq 1 ]"


with DAG(
    dag_id="mapp_export",
    description="Mapp Intelligence queries into Excel workbooks, one task a manifest",
    schedule="15 2 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 1,
        "retry_delay": timedelta(minutes=15),
        "execution_timeout": timedelta(hours=2),
        "pool": "mapp_api",
    },
    tags=["mapp-export"],
) as dag:
    for manifest in MANIFESTS:
        BashOperator(
            task_id=f"export_{manifest.replace('-', '_')}",
            bash_command=_command(manifest),
            env={
                "MAPP_CLIENT_ID": "{{ conn.mapp_analytics.login }}",
                "MAPP_CLIENT_SECRET": "{{ conn.mapp_analytics.password }}",
                "REPORTS_DIR": REPORTS_DIR,
            },
            append_env=True,
        )
