"""Every ``sys.version_info`` gate of the package, in one place."""

from __future__ import annotations

import asyncio
import sys

PY312 = sys.version_info >= (3, 12)
# 3.13 passes extra create_task() keyword arguments on to the task factory.
PY313 = sys.version_info >= (3, 13)

# 3.14 renamed the policy base class (policies are deprecated, gone in 3.16).
if sys.version_info >= (3, 14):
    BasePolicy: type = asyncio.events._BaseDefaultEventLoopPolicy
else:
    BasePolicy = asyncio.events.BaseDefaultEventLoopPolicy
