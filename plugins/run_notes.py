"""Every run of `paper_trading_daily` says what it is: its trade date, mode and round, as the run's
note (`2025-12-31 · dry · round 1`), shown in the grid and on the run's page.

A run triggered from the UI has the moment it was triggered as its logical date, so without this
the grid tells neither the run for 2025-12-31 from the one for 2025-12-30, nor a dry run from a
real one. The note is written by a listener when the scheduler starts the run (Airflow's
`on_dag_run_running`, in the scheduler's own session, before any task runs), from the run's conf
and the DAG's param defaults; a note already given (the REST API's `note` on trigger, or one a
person wrote) is left as it is. The words come from `paper_trading.steps.common.run_note`.
"""

from __future__ import annotations

import logging

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

DAG_ID = "paper_trading_daily"

log = logging.getLogger(__name__)


class RunNotes:
    """The listener (a class instance, as Airflow's listener manager registers objects or modules)."""

    @hookimpl
    def on_dag_run_running(self, dag_run, msg: str) -> None:
        if dag_run.dag_id != DAG_ID or dag_run.note:
            return
        try:
            from paper_trading.steps.common import run_note

            try:  # the DAG's default of the `mode` param (the scheduler set `dag_run.dag`)
                default_mode = str(dag_run.dag.params["mode"])
            except Exception:
                default_mode = "dry"
            dag_run.note = run_note(dict(dag_run.conf or {}), dag_run.logical_date, dag_run.run_after, default_mode)
        except Exception:  # a run without its note still runs
            log.warning("could not write the note of run %s", dag_run.run_id, exc_info=True)


class RunNotesPlugin(AirflowPlugin):
    name = "paper_trading_run_notes"
    listeners = [RunNotes()]
