"""One benchmark on one loop in this fresh interpreter; prints one JSON line.

python -m pyloop.bench.child LOOP SCENARIO [--quick]
"""

from __future__ import annotations

import asyncio
import json
import sys

from .loops import factory
from .scenarios import SCENARIOS


def main(argv: list[str]) -> int:
    loop_name, scenario_name = argv[0], argv[1]
    quick = "--quick" in argv[2:]
    loop = factory(loop_name)()
    asyncio.set_event_loop(loop)
    try:
        value = SCENARIOS[scenario_name].run(loop, quick)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    print(json.dumps({"value": value}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
