"""paper-trading: the library behind the daily rebalance DAG (no Airflow import anywhere in it).

Modules are named after what they do: `signal_bus` (M1), `signal_io` (reading strategy files),
`readiness` (the sensor's check), `config`, `trading_calendar`, `steps` (what the CLI and the DAG
call), `cli`.
"""

__version__ = "0.1.0"
