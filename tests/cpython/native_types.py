"""CPython's own Future and Task test mixins, pointed at pyloop.Future and pyloop.Task.

``test.test_asyncio.test_futures`` and ``test_tasks`` are written as mixins
parametrised by the Future and Task classes under test (CPython runs them for
its C and pure-Python types). The classes here run the same mixins for
pyloop's native types, for Python subclasses of them, and mixed with asyncio's
own types (a pyloop Task awaiting an asyncio Future and the other way round).
``run_suite.py`` runs this module like one of CPython's.
"""

from __future__ import annotations

import asyncio

from test.test_asyncio import test_futures, test_tasks
from test.test_asyncio import utils as test_utils

import pyloop


class SubFuture(pyloop.Future):
    pass


class PyloopFutureTests(test_futures.BaseFutureTests, test_utils.TestCase):
    cls = pyloop.Future
    test_future_del_segfault = test_futures.CFutureTests.test_future_del_segfault


class PyloopSubFutureTests(test_futures.BaseFutureTests, test_utils.TestCase):
    cls = SubFuture


class PyloopFutureDoneCallbackTests(test_futures.BaseFutureDoneCallbackTests, test_utils.TestCase):
    def _new_future(self) -> pyloop.Future:
        return pyloop.Future(loop=self.loop)


class PyloopSubFutureDoneCallbackTests(
    test_futures.BaseFutureDoneCallbackTests, test_utils.TestCase
):
    def _new_future(self) -> pyloop.Future:
        return SubFuture(loop=self.loop)


class PyloopFutureInheritanceTests(test_futures.BaseFutureInheritanceTests, test_utils.TestCase):
    def _get_future_cls(self) -> type:
        return pyloop.Future


class PyloopTaskPyloopFutureTests(
    test_tasks.BaseTaskTests, test_tasks.SetMethodsTest, test_utils.TestCase
):
    Task = pyloop.Task
    Future = pyloop.Future
    test_del__log_destroy_pending_segfault = (
        test_tasks.CTask_CFuture_Tests.test_del__log_destroy_pending_segfault
    )


@test_tasks.add_subclass_tests
class PyloopTaskPyloopFutureSubclassTests(test_tasks.BaseTaskTests, test_utils.TestCase):
    Task = pyloop.Task
    Future = pyloop.Future


class PyloopTaskAsyncioFutureTests(test_tasks.BaseTaskTests, test_utils.TestCase):
    Task = pyloop.Task
    Future = asyncio.Future


class AsyncioTaskPyloopFutureTests(test_tasks.BaseTaskTests, test_utils.TestCase):
    Task = asyncio.Task
    Future = pyloop.Future
