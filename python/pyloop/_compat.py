"""Every ``sys.version_info`` gate of the package, in one place."""

from __future__ import annotations

import asyncio
import sys

PY312 = sys.version_info >= (3, 12)
# 3.13 passes extra create_task() keyword arguments on to the task factory.
PY313 = sys.version_info >= (3, 13)

# 3.14 renamed the policy base class (policies are deprecated, gone in 3.16)
# and removed child watchers. Before 3.14, pyloop's policy derives from
# asyncio's platform default one, so get_child_watcher/set_child_watcher
# keep working on Unix as with asyncio's policy.
if sys.version_info >= (3, 14):
    BasePolicy: type = asyncio.events._BaseDefaultEventLoopPolicy
else:
    BasePolicy = asyncio.DefaultEventLoopPolicy

# gh-114887 (3.11.8, 3.12.2, 3.13): create_datagram_endpoint(sock=) refuses
# only stream sockets ("A datagram socket was expected"); before, anything
# but SOCK_DGRAM ("A UDP Socket was expected").
ANY_DATAGRAM_SOCK = sys.version_info >= (3, 12, 2) or (3, 11, 8) <= sys.version_info < (3, 12)
