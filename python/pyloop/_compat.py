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
