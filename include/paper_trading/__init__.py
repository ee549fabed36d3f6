"""paper-trading: the library behind the daily rebalance DAG (no Airflow import anywhere in it).

Packages by stage, in the order of the day: `signals` (M1: the strategies' files, the signal bus,
readiness), `planning` (M2: the rebalance plan and share orders), `risk` (the pre-trade gate and the
approval text), `execution` (M4: exactly-once orders, protection) over `broker` (the protocol, the
alpaca-py adapter, the live-trading guard), `books` (M5: reconciliation, order sync) over `ledger`,
`reporting` (M6: analytics, dashboard, report files) and `alerts`. Shared plumbing at the top:
`orders` (the order contract), `config`, `errors`, `paths`, `trading_calendar`, `logging_setup`,
`atomic`. `steps` is what the CLI and the DAG call; `cli` the command line. docs/layout.md has the
whole tree.
"""

__version__ = "0.1.0"
