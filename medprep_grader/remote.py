"""Calling a learner's functions in their (sandboxed) kernel from the grader, and judging outside it.

:class:`RemoteRunner` is the grader's counterpart of :class:`medprep_helpers.checks.LocalRunner`:
the same :class:`~medprep_helpers.checks.Checker` methods run in the grader's process, but each
``check.call(...)`` sends the arguments to the kernel in the strict
:mod:`medprep_helpers.wire` format, asks the kernel to call the learner's function there, and
decodes the reply into fresh plain values. Nothing the kernel sends is executed or trusted: a
malformed, oversized, late or missing reply is a failed check.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from queue import Empty
from typing import Any

from medprep_helpers import wire
from medprep_helpers.checks import (
    REPLY_MIME,
    CheckFailed,
    NotImplementedYet,
    raise_crash,
    raise_modified,
    same_value,
)

__all__ = ["RemoteRunner", "KernelGone"]

MAX_REPLY_BYTES = wire.MAX_BYTES


class KernelGone(CheckFailed):
    """The kernel died or stopped answering: the remaining checks cannot run."""


class RemoteRunner:
    """Runs the learner's function in the kernel behind ``client``; one instance per submission.

    Parameters
    ----------
    client : jupyter_client.AsyncKernelClient
    interrupt : callable
        Async callable that interrupts the kernel (the kernel manager's ``interrupt_kernel``).
    scratch : Path
        A folder the kernel can write and the grader can read (for exercises that write files).
    call_timeout : float
        Seconds one call may take.
    deadline : float
        ``time.monotonic()`` value after which no more calls are made (the submission's budget).
    owner : int, optional
        uid that must own folders made for the kernel (the sandbox uid when grading as root).
    """

    def __init__(self, client, interrupt, scratch: Path, call_timeout: float, deadline: float, owner: int | None = None):
        self.client = client
        self.interrupt = interrupt
        self.scratch = Path(scratch)
        self.call_timeout = float(call_timeout)
        self.deadline = float(deadline)
        self.gone: str | None = None
        self.calls = 0
        self.owner = owner

    # -- Checker's runner interface -------------------------------------------------
    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        sent = [list(args), dict(kwargs)]
        reply = self._request(name, "call", wire.encode(tuple(args)), wire.encode(dict(kwargs)))
        status = reply.get("status")
        if status == "not_implemented":
            raise NotImplementedYet(
                f"{name}: not implemented yet\n"
                "  hint:     Replace the line `raise NotImplementedError()` with your code."
            )
        if status == "error":
            raise_crash(name, str(reply.get("error", "?")), str(reply.get("where", "")))
        if status == "not_callable":
            raise CheckFailed(f"{name}: not a function\n  expected: a function defined with def {name}(...)\n"
                              f"  found:    {str(reply.get('found', '?'))[:200]}")
        result = self._decode(name, reply.get("result"))
        after = self._decode(name, reply.get("inputs_after"))
        if not same_value(wire.to_plain(sent), after):
            raise_modified(name)
        return result

    def value(self, name: str) -> Any:
        return self._decode(name, self._request(name, "value").get("result"))

    def scratch_path(self, filename: str) -> Path:
        folder = self.scratch / f"check-{secrets.token_hex(6)}"
        folder.mkdir(parents=True)
        if self.owner is not None:
            os.chown(folder, self.owner, self.owner)
        return folder / filename

    # -- protocol ----------------------------------------------------------------------
    @staticmethod
    def _decode(name: str, text: Any) -> Any:
        if type(text) is not str:
            raise CheckFailed(f"{name}: no result came back from your notebook's kernel")
        try:
            return wire.decode(text)
        except wire.WireError as error:
            raise CheckFailed(f"{name}: the result could not be read: {str(error)[:200]}") from None

    def _request(self, name: str, mode: str, args: str = "null", kwargs: str = "null") -> dict:
        if self.gone:
            raise KernelGone(f"{name}: not checked: {self.gone}")
        budget = min(self.call_timeout, self.deadline - time.monotonic())
        if budget <= 0:
            self.gone = "the time budget for grading this submission is used up"
            raise KernelGone(f"{name}: not checked: {self.gone}")
        nonce = secrets.token_hex(16)
        request = json.dumps({"nonce": nonce, "name": name, "mode": mode, "args": args, "kwargs": kwargs})
        code = ("__import__('medprep_helpers.checks', fromlist=['respond_to_grader'])"
                f".respond_to_grader(globals(), {request!r})")
        self.calls += 1
        reply = _run(self._exchange(code, nonce, budget))
        if reply is None:
            raise CheckFailed(f"{name}: no answer from your notebook's kernel")
        if reply.get("status") == "missing":
            what = "a function" if mode == "call" else "an answer variable"
            raise CheckFailed(f"{name}: not defined\n  expected: {what} called {name}\n  found:    nothing of that "
                              "name\n  hint:     Run your answer cell; keep the name the task gives.")
        if reply.get("status") == "timeout":
            raise CheckFailed(f"{name}: your function did not return within {budget:.0f} s\n"
                              "  hint:     Look for an endless loop, or work on whole arrays instead of pixel by pixel.")
        return reply

    async def _exchange(self, code: str, nonce: str, budget: float) -> dict | None:
        client = self.client
        msg_id = client.execute(code, silent=False, store_history=False, allow_stdin=False, stop_on_error=False)
        end = time.monotonic() + budget
        reply, received = None, 0
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                await self._stop_call()
                return {"status": "timeout"}
            try:
                message = await client.get_iopub_msg(timeout=remaining)
            except Empty:
                continue
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message.get("msg_type"), message.get("content", {})
            if kind == "display_data" and reply is None:
                candidate = content.get("data", {}).get(REPLY_MIME)
                if isinstance(candidate, dict) and candidate.get("nonce") == nonce:
                    received += sum(len(v) for v in candidate.values() if isinstance(v, str))
                    reply = candidate if received <= MAX_REPLY_BYTES else {"status": "ok", "result": None}
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        try:
            await client.get_shell_msg(timeout=1)
        except Empty:
            pass
        return reply

    async def _stop_call(self) -> None:
        """Interrupt a call that ran too long; a kernel that does not become idle is given up on."""
        try:
            await self.interrupt()
        except Exception:  # noqa: BLE001 - a kernel that died cannot be interrupted
            self.gone = "the kernel died during a call of the learner's function"
            return
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                message = await self.client.get_iopub_msg(timeout=end - time.monotonic())
            except Empty:
                break
            if message.get("msg_type") == "status" and message["content"].get("execution_state") == "idle":
                return
        self.gone = "the kernel did not stop when a call that ran too long was interrupted"


def _run(coroutine):
    """Run a coroutine from nbclient's synchronous preprocess code."""
    from nbclient.util import run_sync

    async def wrapper():
        return await coroutine

    return run_sync(wrapper)()

