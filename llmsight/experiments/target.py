"""The function an experiment runs on each dataset row: ``module:function``, imported like an app would be.

The function is called with the row's fields it names as parameters (``question``, ``context``,
``ground_truth``, ``id``, or any other column of the file), or with the whole row if it takes one
parameter named ``row`` (a dict); an ``async def`` function is awaited. It returns the answer
text, or a mapping with ``answer`` and optionally ``context`` (the documents it used: a list of
texts). Without returned context, the judge reads the context the app recorded in its trace
(``llmsight.context`` or a retrieval span).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import importlib
import inspect
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmsight.experiments.dataset import DatasetRow


class TargetError(ValueError):
    """The target cannot be imported or called as given; the message says how to fix it."""


@dataclass(frozen=True)
class TargetOutput:
    answer: str
    context: tuple[str, ...] = ()


def load_target(spec: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (the working directory is importable, as for ``python -m``)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(f"--target {spec!r}: use module:function, e.g. myapp.rag:answer")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"--target {spec!r}: cannot import {module_name}: {exc}") from None
    func: Any = module
    for part in attr.split("."):
        func = getattr(func, part, None)
        if func is None:
            raise TargetError(f"--target {spec!r}: {module_name} has no {attr}")
    if not callable(func):
        raise TargetError(f"--target {spec!r}: {attr} is not callable")
    return func


def arguments(func: Callable[..., Any], row: DatasetRow) -> dict[str, Any]:
    """The keyword arguments ``func`` asks for, from the row; a required one the row lacks is an error."""
    fields: dict[str, Any] = {
        **dict(row.extra),
        "id": row.id,
        "question": row.question,
        "context": list(row.context),
        "ground_truth": row.ground_truth,
    }
    params = inspect.signature(func).parameters
    if list(params) == ["row"]:
        return {"row": {**fields, "answer": row.answer}}
    kwargs: dict[str, Any] = {}
    for name, param in params.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name in fields:
            kwargs[name] = fields[name]
        elif param.default is param.empty:
            raise TargetError(
                f"the target's parameter {name!r} is not a dataset column; name a column "
                f"({', '.join(fields)}) or give it a default"
            )
    return kwargs


def call(func: Callable[..., Any], row: DatasetRow) -> Any:
    """Call the target on one row. An ``async def`` target runs on one event loop shared by every row (a
    module-level async client is bound to the loop it first ran on), in the calling thread's context, so
    the spans it makes are children of the row's span."""
    result = func(**arguments(func, row))
    if inspect.isawaitable(result):
        context = contextvars.copy_context()
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def start() -> None:
            task = context.run(_loop().create_task, _awaited(result))
            task.add_done_callback(lambda t: _settle(t, done))

        _loop().call_soon_threadsafe(start)
        result = done.result()
    return result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _settle(task: asyncio.Task[Any], done: concurrent.futures.Future[Any]) -> None:
    if task.cancelled():
        done.cancel()
    elif task.exception() is not None:
        done.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        done.set_result(task.result())


_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()


def _loop() -> asyncio.AbstractEventLoop:
    """The event loop async targets run on: one per process, in a daemon thread, started on first use."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = asyncio.new_event_loop()
            threading.Thread(target=_LOOP.run_forever, name="llmsight-eval-async", daemon=True).start()
        return _LOOP


def check_arguments(func: Callable[..., Any], rows: Sequence[DatasetRow]) -> None:
    """Fail before any row runs when the target asks for a parameter some row cannot give."""
    for row in rows:
        try:
            arguments(func, row)
        except TargetError as exc:
            raise TargetError(f"row {row.id!r}: {exc}") from None


def _documents(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    docs = []
    for doc in value:
        if isinstance(doc, Mapping):
            doc = doc.get("content") or doc.get("text") or doc.get("page_content") or ""
        docs.append(str(doc))
    return tuple(d for d in docs if d.strip())


def output(value: Any) -> TargetOutput:
    """What the target returned, as answer and context; anything else is a TargetError for that row."""
    if isinstance(value, str):
        return TargetOutput(value)
    if isinstance(value, Mapping):
        answer = value.get("answer", value.get("response"))
        if not isinstance(answer, str):
            raise TargetError(f"the target returned a mapping without an 'answer' text (keys: {', '.join(value)})")
        return TargetOutput(answer, _documents(value.get("context")))
    raise TargetError(f"the target returned {type(value).__name__}; return the answer text or {{'answer': ...}}")
