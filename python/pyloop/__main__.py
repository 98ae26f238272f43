"""``python -m pyloop script.py [args]``: run any asyncio script on pyloop.

``python -m pyloop -m package.module [args]`` runs a module the same way.
"""

from __future__ import annotations

import runpy
import sys

from . import install

USAGE = "usage: python -m pyloop script.py [args ...]\n       python -m pyloop -m module [args ...]"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    install()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
