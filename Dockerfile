# The image every Airflow container of docker-compose.yaml runs: the official Airflow 3.3.2 image
# with this project and its locked runtime dependencies installed, so `import paper_trading` works in the
# api-server, scheduler, dag-processor, triggerer and every Celery worker alike.
FROM apache/airflow:3.3.2-python3.11

# The runtime dependencies only (pyproject.toml's `dependencies`, pinned by the runtime lock): no
# test, lint, benchmark or audit tool is in the image.
COPY --chown=airflow:0 constraints.txt pyproject.toml /opt/paper-trading/
COPY --chown=airflow:0 include /opt/paper-trading/include
RUN pip install --no-cache-dir -c /opt/paper-trading/constraints.txt /opt/paper-trading \
    && python -c "import paper_trading, alpaca_sim"

COPY --chown=airflow:0 dags /opt/paper-trading/dags
COPY --chown=airflow:0 plugins /opt/paper-trading/plugins
COPY --chown=airflow:0 config /opt/paper-trading/config
WORKDIR /opt/paper-trading
ENV PAPER_TRADING_ROOT=/opt/paper-trading \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/paper-trading/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/paper-trading/plugins
