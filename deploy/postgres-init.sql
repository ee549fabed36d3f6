-- Runs once, when the PostgreSQL volume is created: the ledger gets a database of its own, apart
-- from Airflow's metadata (database `airflow`), owned by the same role.
CREATE DATABASE paper_trading OWNER airflow;
