"""Subprocesses: ``subprocess_exec`` and ``subprocess_shell``.

The transport is asyncio's own ``BaseSubprocessTransport`` (its pipes are this
loop's ``connect_read_pipe``/``connect_write_pipe`` transports), so the
callback order and ``asyncio.subprocess.Process`` behave as the running
Python's. What pyloop adds is how a child's exit is seen, without asyncio's
child watchers (never ``get_child_watcher()``):

- Linux: a pidfd per child, watched by the loop like any readable fd; when it
  is readable the child has exited and ``waitpid(pid, WNOHANG)`` reaps it.
- Where ``pidfd_open`` is missing or refused (macOS, kernels < 5.3, seccomp):
  a daemon thread per child blocked in ``waitpid(pid, 0)`` reports back with
  ``call_soon_threadsafe``.

Only the child's own pid is ever waited for (never ``waitpid(-1)``), so the
children of other code are left alone. When the loop closes with children
still running, each is handed to a daemon thread that reaps it when it exits:
no zombie is left behind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import threading
from asyncio import base_subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

logger = logging.getLogger("asyncio")

if TYPE_CHECKING:
    _Base = asyncio.AbstractEventLoop
else:
    _Base = object


def _pipe_name(fd: Any) -> str:
    if fd == subprocess.PIPE:
        return "<pipe>"
    if fd == subprocess.STDOUT:
        return "<stdout>"
    return repr(fd)


def _check_binary_io(bufsize: int, text: Any, encoding: Any, errors: Any) -> None:
    # The transport moves bytes; asyncio refuses Popen's text-mode options.
    if bufsize != 0:
        raise ValueError("bufsize must be 0")
    if text:
        raise ValueError("text must be False")
    if encoding is not None:
        raise ValueError("encoding must be None")
    if errors is not None:
        raise ValueError("errors must be None")


class SubprocessTransport(base_subprocess.BaseSubprocessTransport):
    """asyncio's subprocess transport; pyloop only starts the child."""

    def _start(
        self,
        args: Any,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        **kwargs: Any,
    ) -> None:
        # asyncio's Unix loop swaps stdin for a socketpair on AIX only.
        self._proc = subprocess.Popen(
            args,
            shell=shell,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            universal_newlines=False,
            bufsize=bufsize,
            **kwargs,
        )

    # Set while a failed start waits for the child it killed.
    _exit_waiter: asyncio.Future[int] | None = None

    async def _wait_after_failed_connect(self) -> None:
        """``_connect_pipes`` failed and ``close()`` killed the child: wait for
        its exit only. asyncio awaits ``_wait()`` here, which never returns:
        the calls queued before ``connection_made`` are never flushed."""
        proc = self._proc
        for fd, file in enumerate((proc.stdin, proc.stdout, proc.stderr)):
            if file is not None and self._pipes.get(fd) is None:
                file.close()  # never handed to a pipe transport
        if self._returncode is None:
            self._exit_waiter = self._loop.create_future()
            await self._exit_waiter

    def _process_exited(self, returncode: int) -> None:
        super()._process_exited(returncode)
        waiter = self._exit_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(returncode)

    def send_signal(self, signal: int) -> None:
        self._check_proc()
        if self._proc.returncode is not None:
            # Reaped already: the pid may belong to another process by now.
            return
        super().send_signal(signal)


def _open_pidfd(pid: int) -> int | None:
    """A pidfd for ``pid``, or None where a waiting thread must do instead."""
    pidfd_open: Callable[[int], int] | None = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return pidfd_open(pid)
    except OSError:
        # ENOSYS (old kernel), EPERM (seccomp), ESRCH (reaped by someone
        # else): the thread's waitpid copes with all of them.
        return None


def _wait_in_thread(
    loop: SubprocessMixin, transport: SubprocessTransport, pid: int, report: bool
) -> None:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = None
    if report and not loop.is_closed():
        try:
            loop.call_soon_threadsafe(loop._child_exited, transport, pid, status)
            return
        except RuntimeError:
            pass  # closed in between
    # As asyncio's thread watcher: nobody is left to tell, but it is reaped.
    logger.warning("Loop %r that handles pid %r is closed", loop, pid)
    proc = transport._proc
    if status is not None and proc is not None and proc.returncode is None:
        proc.returncode = os.waitstatus_to_exitcode(status)


def _start_waiting_thread(
    loop: SubprocessMixin, transport: SubprocessTransport, pid: int, report: bool = True
) -> None:
    """A daemon thread blocked in waitpid(pid): it reports the exit to the
    loop, or (``report`` False, the loop closing) only reaps the child."""
    threading.Thread(
        target=_wait_in_thread,
        args=(loop, transport, pid, report),
        name=f"pyloop-waitpid-{pid}",
        daemon=True,
    ).start()


class SubprocessMixin(_Base):
    # pid -> (pidfd, transport) of the children whose pidfd this loop watches.
    _pidfd_children: dict[int, tuple[int, SubprocessTransport]] | None = None

    async def subprocess_shell(
        self,
        protocol_factory: Callable[[], asyncio.SubprocessProtocol],
        cmd: str | bytes,
        *,
        stdin: Any = subprocess.PIPE,
        stdout: Any = subprocess.PIPE,
        stderr: Any = subprocess.PIPE,
        universal_newlines: bool = False,
        shell: bool = True,
        bufsize: int = 0,
        encoding: str | None = None,
        errors: str | None = None,
        text: bool | None = None,
        **kwargs: Any,
    ) -> tuple[asyncio.SubprocessTransport, asyncio.SubprocessProtocol]:
        if not isinstance(cmd, (bytes, str)):
            raise ValueError("cmd must be a string")
        if universal_newlines:
            raise ValueError("universal_newlines must be False")
        if not shell:
            raise ValueError("shell must be True")
        _check_binary_io(bufsize, text, encoding, errors)
        # As asyncio: the command may hold secrets, it goes to the debug log only.
        return await self._spawn(
            protocol_factory, cmd, True, f"run shell command {cmd!r}",
            stdin, stdout, stderr, bufsize, kwargs,
        )  # fmt: skip

    async def subprocess_exec(
        self,
        protocol_factory: Callable[[], asyncio.SubprocessProtocol],
        program: Any,
        *args: Any,
        stdin: Any = subprocess.PIPE,
        stdout: Any = subprocess.PIPE,
        stderr: Any = subprocess.PIPE,
        universal_newlines: bool = False,
        shell: bool = False,
        bufsize: int = 0,
        encoding: str | None = None,
        errors: str | None = None,
        text: bool | None = None,
        **kwargs: Any,
    ) -> tuple[asyncio.SubprocessTransport, asyncio.SubprocessProtocol]:
        if universal_newlines:
            raise ValueError("universal_newlines must be False")
        if shell:
            raise ValueError("shell must be False")
        _check_binary_io(bufsize, text, encoding, errors)
        # Argument types are Popen's to check (asyncio >= 3.8 leaves them to it).
        # Only the program is logged: the arguments may hold secrets.
        return await self._spawn(
            protocol_factory, (program, *args), False, f"execute program {program!r}",
            stdin, stdout, stderr, bufsize, kwargs,
        )  # fmt: skip

    async def _spawn(
        self,
        protocol_factory: Callable[[], asyncio.SubprocessProtocol],
        popen_args: Any,
        shell: bool,
        debug_log: str,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        kwargs: dict[str, Any],
    ) -> tuple[asyncio.SubprocessTransport, asyncio.SubprocessProtocol]:
        """What subprocess_exec and subprocess_shell share once their
        arguments are checked: the protocol, the transport, asyncio's logs."""
        protocol = protocol_factory()
        debug = self.get_debug()
        if debug:
            self._log_subprocess(debug_log, stdin, stdout, stderr)
        transport = await self._make_subprocess_transport(
            protocol, popen_args, shell, stdin, stdout, stderr, bufsize, **kwargs
        )
        if debug and self.get_debug():
            logger.info("%s: %r", debug_log, transport)
        return transport, protocol

    def _log_subprocess(self, msg: str, stdin: Any, stdout: Any, stderr: Any) -> None:
        info = [msg]
        if stdin is not None:
            info.append(f"stdin={_pipe_name(stdin)}")
        if stdout is not None and stderr == subprocess.STDOUT:
            info.append(f"stdout=stderr={_pipe_name(stdout)}")
        else:
            if stdout is not None:
                info.append(f"stdout={_pipe_name(stdout)}")
            if stderr is not None:
                info.append(f"stderr={_pipe_name(stderr)}")
        logger.debug(" ".join(info))

    async def _make_subprocess_transport(
        self,
        protocol: asyncio.SubprocessProtocol,
        args: Any,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        extra: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SubprocessTransport:
        waiter = self.create_future()
        transport = SubprocessTransport(
            self, protocol, args, shell, stdin, stdout, stderr, bufsize,
            waiter=waiter, extra=extra, **kwargs,
        )  # fmt: skip
        self._watch_child(transport)
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            # Cancelled, or the pipes failed to connect: kill the child and
            # wait for it.
            transport.close()
            if waiter.cancelled():
                await transport._wait()
            else:
                await transport._wait_after_failed_connect()
            raise
        return transport

    # -- child exit -------------------------------------------------------------------

    def _watch_child(self, transport: SubprocessTransport) -> None:
        pid = transport.get_pid()
        pidfd = _open_pidfd(pid)
        if pidfd is None:
            _start_waiting_thread(self, transport, pid)
            return
        if self._pidfd_children is None:
            self._pidfd_children = {}
        self._pidfd_children[pid] = (pidfd, transport)
        self.add_reader(pidfd, self._on_pidfd_readable, pid)

    def _forget_pidfd(self, pid: int) -> SubprocessTransport:
        assert self._pidfd_children is not None
        pidfd, transport = self._pidfd_children.pop(pid)
        self.remove_reader(pidfd)
        os.close(pidfd)
        return transport

    def _on_pidfd_readable(self, pid: int) -> None:
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            reaped, status = pid, None
        transport = self._forget_pidfd(pid)
        if reaped == 0:
            # Readable yet not waitable (not expected from Linux): never
            # spin on it; a thread's blocking waitpid takes over.
            _start_waiting_thread(self, transport, pid)
            return
        self._child_exited(transport, pid, status)

    def _child_exited(self, transport: SubprocessTransport, pid: int, status: int | None) -> None:
        """On the loop thread: ``status`` is waitpid's, None if the child had
        been reaped by someone else."""
        proc = transport._proc
        if status is not None:
            returncode = os.waitstatus_to_exitcode(status)
            # Popen must know too: its poll() would otherwise report 0 (ECHILD).
            proc.returncode = returncode
        elif proc.returncode is not None:
            returncode = proc.returncode  # Popen's own poll() (in close()) reaped it
        else:
            returncode = 255
            logger.warning(
                "child process pid %d exit status already read:  will report returncode 255",
                pid,
            )
        if self.get_debug():
            logger.debug("process %s exited with returncode %s", pid, returncode)
        # One iteration later, as asyncio's watchers: pipe data read in this
        # iteration reaches the protocol before process_exited.
        self.call_soon(transport._process_exited, returncode)

    def _hand_children_to_reapers(self) -> None:
        """For close(): the children still running are reaped by threads when
        they exit, since this loop will not watch their pidfds any more."""
        children = self._pidfd_children
        if not children:
            return
        for pid in list(children):
            transport = self._forget_pidfd(pid)
            try:
                _start_waiting_thread(self, transport, pid, report=False)
            except RuntimeError:
                # No new threads at interpreter shutdown: the process is
                # about to exit, and init reaps its orphans.
                pass
