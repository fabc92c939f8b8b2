"""Stream proxies: the app iterates the very same chunks while the span accumulates the reply.

A proxy (``wrapt.ObjectProxy``) stands in for the OpenAI ``Stream``/``AsyncStream`` so ``isinstance``
and every attribute still work. Its span ends when the stream is exhausted (complete), closed, or
garbage-collected unfinished (``llmsight.usage.partial=true``), or when iteration raises.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import wrapt

from llmsight.instrumentation import attributes as A
from llmsight.instrumentation import message_json as MJ
from llmsight.instrumentation import messages as M
from llmsight.instrumentation.safety import report_internal_error
from llmsight.instrumentation.spans import Invocation, chat_usage

# The fields of the usage-only chunk OpenAI sends for ``stream_options.include_usage``. A final
# chunk with any other field set (a moderation report, a provider's extra) is the app's: shown.
USAGE_CHUNK_FIELDS = frozenset(
    {"id", "object", "created", "model", "system_fingerprint", "service_tier", "choices", "usage", "obfuscation"}
)

# Endpoints seen sending the usage chunk unasked, learnt from streams llmsight left unchanged
# (raw-response streams, and the first stream to an endpoint not seen yet: ``Invocation.usage_probe``):
# True = it sends usage anyway, so llmsight neither injects nor hides there (the chunk is the server's,
# so the app's); False = it did not, so a usage-only chunk after an injected include_usage is there
# because llmsight asked. Keyed by (host, port); OpenAI's and Azure's endpoints start as False.
USAGE_UNASKED: dict[tuple[str, int], bool] = {}


def _usage_only(chunk: Any) -> bool:
    """A chunk with exactly the usage-only chunk's fields and no extras."""
    fields = getattr(chunk, "model_fields_set", None)
    if fields is None or not fields <= USAGE_CHUNK_FIELDS:
        return False
    return not getattr(chunk, "model_extra", None)


def learn_usage_habit(key: tuple[str, int], sent_unasked: bool) -> None:
    if len(USAGE_UNASKED) > 256:  # many hosts: forget, one more probe each is cheap
        USAGE_UNASKED.clear()
    USAGE_UNASKED[key] = sent_unasked


class ChatAccumulator:
    """Folds ``ChatCompletionChunk``s (and legacy ``Completion`` chunks) into span attributes."""

    __slots__ = (
        "inv",
        "first_ns",
        "response_id",
        "model",
        "usage",
        "texts",
        "tools",
        "finish",
        "service_tier",
        "legacy",
        "usage_with_choices",
    )

    def __init__(self, inv: Invocation, legacy: bool = False) -> None:
        self.inv = inv
        self.first_ns = 0
        self.response_id: str | None = None
        self.model: str | None = None
        self.usage: Any = None
        self.texts: dict[int, list[str]] = {}
        self.tools: dict[int, dict[int, list[Any]]] = {}
        self.finish: dict[int, str] = {}
        self.service_tier: str | None = None
        self.legacy = legacy
        # The server put usage on a chunk with choices: it reports usage its own way, so a
        # usage-only chunk after that is not (only) the answer to llmsight's include_usage.
        self.usage_with_choices = False

    def on_chunk(self, chunk: Any) -> bool:
        """Record one chunk; True means it is the usage-only chunk llmsight asked for, hidden from the app.

        Hidden only when llmsight added ``include_usage``, the chunk has no choices, exactly the
        usage chunk's fields and no extras, and the server showed no usage habit of its own.
        """
        if not self.first_ns:
            self.first_ns = time.time_ns()
            self.response_id = chunk.id
            self.model = chunk.model
            self.service_tier = getattr(chunk, "service_tier", None)
        choices = chunk.choices
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
            if choices:
                self.usage_with_choices = True
            elif self.inv.hide_usage_chunk and not self.usage_with_choices and _usage_only(chunk):
                return True
        capture = self.inv.capture
        for choice in choices:
            index = choice.index
            if self.legacy:
                text = choice.text
            else:
                delta = choice.delta
                if delta is None:
                    text = None
                else:
                    text = delta.content
                    if delta.tool_calls:
                        self._tool_deltas(index, delta.tool_calls)
            if text and capture:  # per chunk only the text piece is kept; joined and encoded at the end
                texts = self.texts.get(index)
                if texts is None:
                    self.texts[index] = [text]
                else:
                    texts.append(text)
            if choice.finish_reason:
                self.finish[index] = choice.finish_reason
        return False

    def _tool_deltas(self, index: int, deltas: Any) -> None:
        calls = self.tools.setdefault(index, {})
        for delta in deltas:
            entry = calls.get(delta.index)
            if entry is None:
                entry = calls[delta.index] = [None, None, []]
            if delta.id:
                entry[0] = delta.id
            function = delta.function
            if function is not None:
                if function.name:
                    entry[1] = function.name
                if function.arguments and self.inv.capture:
                    entry[2].append(function.arguments)

    def attributes(self) -> dict[str, Any]:
        inv = self.inv
        out: dict[str, Any] = {}
        if self.first_ns:
            out[A.TIME_TO_FIRST_CHUNK] = (self.first_ns - inv.start_ns) / 1e9
        if type(self.response_id) is str:
            out[A.RESPONSE_ID] = self.response_id
        if type(self.model) is str:
            out[A.RESPONSE_MODEL] = self.model
        if type(self.service_tier) is str:
            out[A.OPENAI_SERVICE_TIER] = self.service_tier
        indexes = sorted(set(self.texts) | set(self.tools) | set(self.finish))
        if self.finish:
            out[A.FINISH_REASONS] = tuple(str(self.finish.get(i, "")) for i in indexes)
        chat_usage(self.usage, out)
        if inv.capture and indexes:
            redact = inv.redact
            output = []
            for i in indexes:
                parts: list[dict[str, Any]] = []
                text = "".join(self.texts.get(i, ()))
                if text:
                    parts.append({"type": "text", "content": redact(text) if redact is not None else text})
                for _, (call_id, name, pieces) in sorted(self.tools.get(i, {}).items()):
                    parts.append(
                        {
                            "type": "tool_call",
                            "id": call_id,
                            "name": name,
                            "arguments": M._arguments("".join(pieces), redact),
                        }
                    )
                output.append({"role": "assistant", "parts": parts, "finish_reason": self.finish.get(i, "")})
            out[A.OUTPUT_MESSAGES] = MJ.to_json(output, inv.max_length)
        return out


class ResponsesAccumulator:
    """Folds Responses API stream events; the terminal event carries the whole ``Response``."""

    __slots__ = ("inv", "first_ns", "response", "texts")

    def __init__(self, inv: Invocation) -> None:
        self.inv = inv
        self.first_ns = 0
        self.response: Any = None
        self.texts: list[str] = []

    def on_chunk(self, event: Any) -> bool:
        if not self.first_ns:
            self.first_ns = time.time_ns()
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            if self.inv.capture and type(event.delta) is str:
                self.texts.append(event.delta)
        elif kind in (
            "response.created",
            "response.in_progress",
            "response.completed",
            "response.incomplete",
            "response.failed",
        ):
            self.response = event.response
        return False

    def attributes(self) -> dict[str, Any]:
        from llmsight.instrumentation.openai_attributes import responses_response_attributes

        inv = self.inv
        out: dict[str, Any] = {}
        if self.first_ns:
            out[A.TIME_TO_FIRST_CHUNK] = (self.first_ns - inv.start_ns) / 1e9
        response = self.response
        if response is not None and response.status not in ("in_progress", "queued"):
            responses_response_attributes(inv, response, out)
            return out
        if response is not None:
            if type(response.id) is str:
                out[A.RESPONSE_ID] = response.id
            if type(response.model) is str:
                out[A.RESPONSE_MODEL] = response.model
        if inv.capture and self.texts:
            text = "".join(self.texts)
            if inv.redact is not None:
                text = inv.redact(text)
            message = {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": ""}
            out[A.OUTPUT_MESSAGES] = MJ.to_json([message], inv.max_length)
        return out


def _finish(proxy: Any, partial: bool, exc: BaseException | None = None) -> None:
    inv: Invocation = proxy._self_inv
    if inv.ended:
        return
    try:
        acc = proxy._self_acc
        probe = inv.usage_probe
        if probe is not None and not partial and exc is None:
            learn_usage_habit(probe, getattr(acc, "usage", None) is not None)
        # The reply's attributes (and its JSON) are built now on the SDK path, on export when deferred.
        inv.finish(_stream_attributes, (acc, partial), exc)
    except Exception:
        report_internal_error("stream.finish")
        with contextlib.suppress(Exception):
            inv.end(None)


def _stream_attributes(inv: Invocation, facts: tuple[Any, bool], out: dict[str, Any]) -> None:
    acc, partial = facts
    out.update(acc.attributes())
    if partial:
        out[A.USAGE_PARTIAL] = True


def _record(proxy: Any, chunk: Any) -> bool:
    try:
        return proxy._self_acc.on_chunk(chunk)
    except Exception:
        report_internal_error("stream.chunk")
        return False


class TracedStream(wrapt.ObjectProxy):  # type: ignore[misc]
    """Stands in for ``openai.Stream``; same chunks, same exceptions."""

    def __init__(self, wrapped: Any, inv: Invocation, acc: Any) -> None:
        super().__init__(wrapped)
        self._self_inv = inv
        self._self_acc = acc

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        next_chunk = self.__wrapped__.__next__
        while True:
            try:
                chunk = next_chunk()
            except StopIteration:
                _finish(self, partial=False)
                raise
            except BaseException as exc:
                _finish(self, partial=True, exc=exc)
                raise
            try:  # _record, inlined: this runs for every chunk
                if not self._self_acc.on_chunk(chunk):
                    return chunk
            except Exception:
                report_internal_error("stream.chunk")
                return chunk

    def __enter__(self) -> TracedStream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            _finish(self, partial=True)

    def _llmsight_closed(self) -> None:
        """Called when a helper (``ChatCompletionStream``) closed the HTTP response behind our back."""
        _finish(self, partial=True)

    def __del__(self) -> None:
        try:
            if not self._self_inv.ended:
                _finish(self, partial=True)
        except Exception:  # half-built proxy or interpreter shutdown: nothing to end
            pass


class AsyncTracedStream(wrapt.ObjectProxy):  # type: ignore[misc]
    """Stands in for ``openai.AsyncStream``."""

    def __init__(self, wrapped: Any, inv: Invocation, acc: Any) -> None:
        super().__init__(wrapped)
        self._self_inv = inv
        self._self_acc = acc

    def __aiter__(self) -> AsyncTracedStream:
        return self

    async def __anext__(self) -> Any:
        next_chunk = self.__wrapped__.__anext__
        while True:
            try:
                chunk = await next_chunk()
            except StopAsyncIteration:
                _finish(self, partial=False)
                raise
            except BaseException as exc:
                _finish(self, partial=True, exc=exc)
                raise
            if not _record(self, chunk):
                return chunk

    async def __aenter__(self) -> AsyncTracedStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            _finish(self, partial=True)

    def _llmsight_closed(self) -> None:
        _finish(self, partial=True)

    def __del__(self) -> None:
        try:
            if not self._self_inv.ended:
                _finish(self, partial=True)
        except Exception:  # half-built proxy or interpreter shutdown: nothing to end
            pass
