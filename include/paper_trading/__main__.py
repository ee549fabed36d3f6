import sys

from paper_trading.cli import main

sys.exit(main())
