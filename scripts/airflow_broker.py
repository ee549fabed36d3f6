"""Which broker `make airflow` gives the DAG: prints one line saying so, exits 0 when real Alpaca
credentials are configured, 1 when not (then the Makefile starts the local simulator).

Configured means what the DAG itself uses (`broker()` in plugins/paper_trading_airflow.py): the Airflow
Connection `alpaca` (from AIRFLOW_CONN_ALPACA, a secrets backend or the metadata DB), else
APCA_API_KEY_ID in the environment. Only the URL is printed, never a key or secret.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets("alpaca")
    except AirflowNotFoundException:
        conn = None
    if conn is not None:
        from paper_trading.connections import url_from_parts
        from paper_trading.errors import ConfigError

        try:
            url = url_from_parts(conn.host, conn.port, conn.schema, conn_id="connection 'alpaca'")
        except ConfigError as exc:  # the DAG's tasks report it too; here only say which broker
            url = f"(invalid: {exc})"
        source = "AIRFLOW_CONN_ALPACA" if os.environ.get("AIRFLOW_CONN_ALPACA") else "stored in Airflow"
        print(f"==> broker: the Airflow Connection 'alpaca' ({source}): {url or 'Alpaca paper (no host set)'}")
        return 0
    if os.environ.get("APCA_API_KEY_ID"):
        url = os.environ.get("APCA_API_BASE_URL") or "Alpaca paper (APCA_API_BASE_URL not set)"
        print(f"==> broker: APCA_API_KEY_ID from the environment: {url}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
