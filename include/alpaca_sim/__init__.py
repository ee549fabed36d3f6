"""alpaca_sim: a local, durable, Alpaca-compatible paper broker served over HTTP on loopback.

Tests, the demo and replays run the real `alpaca-py` against it. It imports nothing from
`paper_trading`. Start it with `python -m alpaca_sim serve ...` (see `--help`), or from Python
with `alpaca_sim.server.SimServer`.
"""

__version__ = "0.1.0"
