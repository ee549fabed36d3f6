"""The approval step of the daily DAG: Airflow's human-in-the-loop ApprovalOperator (standard
provider), asked only when the run must be approved.

A real run reaches it after the risk gate. When `execution.require_approval` (or the run's
`require_approval` param) is false it records "not required" and lets `submit_orders` run at once;
when true it shows the approved batch (the risk gate's XCom `approval_md`: orders, notional,
turnover, what the gate rejected and why) in the UI and waits: Approve sends, Reject skips
`submit_orders`, no answer by `execution.approval_timeout_minutes` is a Reject. Every answer is a
`runs` row of the ledger (step `approval`); a rejection is also an alert. The logic is in
`paper_trading.steps.approval`; this file only adapts it to the operator (the project root and the
ledger Connection come from `paper_trading_airflow`, the adapter module beside it).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from paper_trading_airflow import ledger_url, project_root


def _trade_date(context: Any):
    from paper_trading.trading_calendar import parse_date

    return parse_date(context["ti"].xcom_pull(task_ids="trade_date"))


class OrderApprovalOperator(ApprovalOperator):
    """ApprovalOperator that waits only when the run must be approved, and records the answer."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("defaults", [self.REJECT])  # no answer by the deadline: nothing is sent
        super().__init__(**kwargs)

    def execute(self, context: Any) -> Any:
        from paper_trading.steps.approval import approval_policy, record_approval

        required, timeout = approval_policy(project_root(), asked=context["params"].get("require_approval"))
        if not required:
            record_approval(_trade_date(context), approved=True, by=None, required=False, root=project_root(),
                            run_id=context["run_id"], db_url=ledger_url())
            self.log.info("approval not required (execution.require_approval / param require_approval): sending")
            return None
        self.response_timeout = timeout
        self.log.info("waiting up to %s for Approve or Reject in the UI (Browse > Required Actions)", timeout)
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from paper_trading.steps.approval import record_approval

        chosen = (event.get("chosen_options") or [self.REJECT])[0]
        by = event.get("responded_by_user")
        who = (by.get("name") or by.get("id")) if isinstance(by, dict) else by
        record_approval(_trade_date(context), approved=chosen == self.APPROVE, by=who, root=project_root(),
                        run_id=context["run_id"], db_url=ledger_url())
        return super().execute_complete(context, event)
