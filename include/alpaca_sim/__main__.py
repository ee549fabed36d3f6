"""python -m alpaca_sim {serve,run,orders} ..."""

import sys

from .server import run, serve

USAGE = """usage: python -m alpaca_sim {serve,run,orders} [--help] ...

commands:
  serve   run the Alpaca-compatible paper broker on 127.0.0.1
  run     start a fresh broker, run a command against it (APCA_* env set), stop it
  orders  list the orders a simulator received, from its database file (no keys needed)"""

if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
    print(USAGE)
    sys.exit(0 if len(sys.argv) > 1 else 2)
if sys.argv[1] == "serve":
    serve(sys.argv[2:])
elif sys.argv[1] == "run":
    sys.exit(run(sys.argv[2:]))
elif sys.argv[1] == "orders":
    from .listing import main

    sys.exit(main(sys.argv[2:]))
else:
    print(f"unknown command {sys.argv[1]!r}\n\n{USAGE}", file=sys.stderr)
    sys.exit(2)
