"""How long the DAG's `wait_for_signals` sensor waits for the strategies, and how often it looks.

One place for both, because two things must agree on them: the DAG (which wires the sensor with
them) and `replay`, which waits for a late strategy the way the sensor would, so a replayed day
trades at the first poke after its signals came out, or not at all once the timeout has passed.
Only the standard library here: the DAG file imports this while it is parsed.
"""

from __future__ import annotations

from datetime import timedelta

#: The sensor pokes (re-checks readiness) this often; in reschedule mode, between two pokes no
#: worker slot is held.
SENSOR_POKE_INTERVAL = timedelta(minutes=5)
#: Counted from the first poke: after a failed poke past this, the sensor fails (Airflow does not
#: retry a sensor timeout) and the day is not traded.
SENSOR_TIMEOUT = timedelta(hours=6)
