"""The shell's way to a running server: requests as files in the data folder.

A command such as ``quicksilver-server queue hold ID`` runs in a process of
its own, while the queue, the sessions and the bans live in the server's
(headless or the window's). It writes a request file into ``requests/``;
the running core looks there every ``POLL_SECONDS``, does what was asked
through ``CoreApi`` (the window's own facade, so the same checks and the
same words), and writes the answer beside it; the command prints it.

- Who may ask: whoever may write the data folder (0700, the server's user):
  no socket, no password, nothing listening.
- Files: ``<id>.json`` (the request: action and arguments, at most
  ``MAX_REQUEST`` bytes), ``<id>.answer.json``; both written atomically. The
  asking side removes both; a request nobody answered within its wait is
  taken back, and requests older than ``STALE_SECONDS`` are swept.
- Actions: ``ACTIONS`` (queue list/show/hold/release/retry/delete/bounce,
  sessions, disconnect, bans list/add/remove, reload the certificate, and
  capture mode's list/show/delete/release/password).
  Anything else is answered with an error, never run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server import fsutil
from server.errors import MailError, ValidationError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from server.api import CoreApi

log = logging.getLogger("quicksilver.core")

REQUESTS = "requests"
POLL_SECONDS = 0.25
MAX_REQUEST = 64 * 1024
STALE_SECONDS = 600.0
WAIT_SECONDS = 8.0
_ANSWER = ".answer.json"

# A request's arguments as JSON brought them: each handler checks the types
# it takes (``_text``, ``_uid``); what it returns goes through ``_plain``.
Args = dict[str, object]
Handler = Callable[["CoreApi", Args], Awaitable[object]]
# what ``json.dumps`` takes
Plain = None | bool | int | float | str | list["Plain"] | dict[str, "Plain"]


def _plain(value: object) -> Plain:
    """Dataclasses, tuples and enums as JSON can carry them; anything else
    as its text (never a TypeError from ``json.dumps`` in the answer)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain_fields(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, enum.Enum) and isinstance(value.value, str):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _plain_fields(value: DataclassInstance) -> dict[str, Plain]:
    return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}


def _text(args: Args, name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValidationError(f"{name}: missing or not valid")
    return value


async def _queue_show(api: CoreApi, args: Args) -> object:
    job_id = _text(args, "job")
    views = {v.job_id: v for v in await api.queue_jobs()}
    if job_id not in views:
        raise ValidationError(f"No job {job_id} in the queue.")
    headers = await api.job_headers(job_id)
    return {"job": _plain(views[job_id]), "headers": headers.headers}


async def _queue_action(api: CoreApi, args: Args) -> object:
    act = {
        "hold": api.hold_job,
        "release": api.release_job,
        "retry": api.retry_job,
        "delete": api.delete_job,
        "bounce": api.bounce_job,
    }.get(str(args.get("do")))
    if act is None:
        raise ValidationError("do: one of hold, release, retry, delete, bounce")
    return await act(_text(args, "job"))


async def _disconnect(api: CoreApi, args: Args) -> object:
    key = args.get("key")
    if not isinstance(key, int):
        raise ValidationError("key: a session number from 'sessions'")
    return await api.disconnect(_text(args, "module"), key, bool(args.get("ban")))


async def _ban(api: CoreApi, args: Args) -> object:
    return await api.ban(_text(args, "ip"))


async def _unban(api: CoreApi, args: Args) -> object:
    return await api.unban(_text(args, "ip"))


def _uid(args: Args, name: str = "uid") -> int:
    value = args.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"{name}: a message number from 'capture list'")
    return value


async def _capture_show(api: CoreApi, args: Args) -> object:
    shown = await api.capture.message(_uid(args))
    out = _plain_fields(dataclasses.replace(shown, images=()))
    out.pop("images", None)
    return out


async def _capture_delete(api: CoreApi, args: Args) -> object:
    uids = args.get("uids")
    if not isinstance(uids, list) or not uids or len(uids) > 10_000:
        raise ValidationError("uids: message numbers from 'capture list'")
    return await api.capture.delete(tuple(_uid({"uid": u}) for u in uids))


async def _capture_release(api: CoreApi, args: Args) -> object:
    return await api.capture.release(_uid(args), _text(args, "to"))


async def _capture_password(api: CoreApi, _args: Args) -> object:
    return {"address": api.capture.address(), "password": await api.capture.password()}


ACTIONS: dict[str, Handler] = {
    "capture.status": lambda api, _a: api.capture.status(),
    "capture.list": lambda api, _a: api.capture.messages(),
    "capture.show": _capture_show,
    "capture.delete": _capture_delete,
    "capture.delete_all": lambda api, _a: api.capture.delete_all(),
    "capture.release": _capture_release,
    "capture.password": _capture_password,
    "queue.list": lambda api, _a: api.queue_jobs(),
    "queue.show": _queue_show,
    "queue.action": _queue_action,
    "sessions": lambda api, _a: api.sessions(),
    "disconnect": _disconnect,
    "bans": lambda api, _a: api.bans(),
    "ban": _ban,
    "unban": _unban,
    "cert.reload": lambda api, _a: api.reload_certificate(),
}


class ControlDesk:
    """The running core's side: answers the requests it finds."""

    def __init__(self, data_dir: Path, api: CoreApi) -> None:
        self.folder = data_dir / REQUESTS
        self.api = api

    async def serve(self) -> None:
        """Look for requests until cancelled."""
        failed = ""  # the last failure logged: one line per new reason
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.answer_all()  # the asking side makes the folder
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                # no descriptor free, a full disk: the next look tries again;
                # no traceback, and not a line four times a second
                if str(exc) != failed:
                    failed = str(exc)
                    log.warning("cannot look for the shell's requests: %s", exc)
                continue
            except Exception:  # an edge: the next look tries again
                log.exception("could not answer the shell's requests")
            failed = ""

    async def answer_all(self) -> int:
        try:
            names = sorted(os.listdir(self.folder))
        except FileNotFoundError:
            return 0
        done = 0
        now = time.time()
        for name in names:
            if name.startswith(".") or not name.endswith(".json"):
                continue
            path = self.folder / name
            if name.endswith(_ANSWER):
                _sweep(path, now)
                continue
            answer = path.with_name(name[: -len(".json")] + _ANSWER)
            if answer.exists():
                _sweep(path, now)
                continue
            await self._answer(path, answer)
            done += 1
        return done

    async def _answer(self, path: Path, answer: Path) -> None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return  # taken back meanwhile
        reply: dict[str, Plain]
        try:
            if len(raw) > MAX_REQUEST:
                raise ValidationError("the request is too large")
            request = json.loads(raw)
            action = request.get("action") if isinstance(request, dict) else None
            handler = ACTIONS.get(action) if isinstance(action, str) else None
            if handler is None:
                raise ValidationError(f"unknown request {action!r}")
            args = request.get("args") or {}
            if not isinstance(args, dict):
                raise ValidationError("args: an object")
            log.info("the shell asks: %s", action)
            result = await handler(self.api, args)
            reply = {"ok": True, "result": _plain(result)}
        except (ValidationError, MailError) as exc:
            reply = {"ok": False, "error": str(exc)}
        except ValueError:
            reply = {"ok": False, "error": "the request is not valid JSON"}
        data = json.dumps(reply).encode()
        await asyncio.to_thread(fsutil.atomic_write, answer, data)


def _sweep(path: Path, now: float) -> None:
    """Remove a leftover the asking side never took back."""
    try:
        if now - path.stat().st_mtime > STALE_SECONDS:
            path.unlink()
    except FileNotFoundError:
        pass


def ask(data_dir: Path, action: str, args: Args, wait: float | None = None) -> Any:
    """Ask the server running on ``data_dir``; its result, or
    ``ValidationError`` with its reason (or that no server answered). The
    result is the JSON the server wrote (``Plain``), typed ``Any`` for the
    commands that print it: each knows the shape of the answer it asked for."""
    folder = data_dir / REQUESTS
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ident = f"{time.time_ns():x}-{secrets.token_hex(4)}"
    request = folder / f"{ident}.json"
    answer = folder / f"{ident}{_ANSWER}"
    fsutil.atomic_write(request, json.dumps({"action": action, "args": args}).encode())
    deadline = time.monotonic() + (WAIT_SECONDS if wait is None else wait)
    try:
        while time.monotonic() < deadline:
            try:
                reply = json.loads(answer.read_bytes())
            except FileNotFoundError:
                time.sleep(0.05)
                continue
            if not reply.get("ok"):
                raise ValidationError(str(reply.get("error", "refused")))
            return reply.get("result")
        raise ValidationError(
            "No running server answered: start it (quicksilver-server run, or "
            "the window) on this data folder"
        )
    finally:
        for path in (request, answer):
            path.unlink(missing_ok=True)
