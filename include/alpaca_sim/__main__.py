"""python -m alpaca_sim serve ..."""

import sys

from .server import serve

if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
    print("usage: python -m alpaca_sim serve [--help] ...\n\n"
          "Commands:\n  serve   run the Alpaca-compatible paper broker on 127.0.0.1")
    sys.exit(0 if len(sys.argv) > 1 else 2)
if sys.argv[1] != "serve":
    print(f"unknown command {sys.argv[1]!r}; try: python -m alpaca_sim serve --help", file=sys.stderr)
    sys.exit(2)
serve(sys.argv[2:])
