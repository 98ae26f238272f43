"""``python -m pyloop.tasks demo [--jobs N] [--workers W] [--loop pyloop|asyncio|uvloop]``."""

from __future__ import annotations

import sys

from ._demo import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
