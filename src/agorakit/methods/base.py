"""The one small interface every multi-agent method implements."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from agorakit.agents.sync import run_sync
from agorakit.core import settings
from agorakit.core.errors import ConfigError
from agorakit.core.ids import new_run_id
from agorakit.core.messages import Message
from agorakit.core.provenance import recording
from agorakit.core.stream import RunFinished, StreamEvent, stream_events
from agorakit.kernel import Budget, Kernel, RunLedger, default_kernel
from agorakit.kernel.journal import Durability, RunJournal, check_durability, journaling
from agorakit.methods.answers import extract_answer
from agorakit.methods.result import MethodResult
from agorakit.methods.session import Session
from agorakit.models.base import ChatModel, Sampling
from agorakit.models.uri import resolve_model
from agorakit.trace import attributes as attr
from agorakit.trace.run_span import traced_run
from agorakit.trace.setup import TraceOption

OP_INVOKE_METHOD = "invoke_method"


@dataclasses.dataclass(frozen=True)
class NoConfig:
    """For methods without settings."""


class Method(ABC):
    """A multi-agent method: ``await method.run(task)`` returns a :class:`MethodResult`.

    Subclasses set ``name``, ``summary`` (one line), ``paper`` (citation) and
    ``Config`` (a frozen dataclass whose defaults come from the paper), and
    implement :meth:`solve`. ``models`` gives some roles their own backend.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    paper: ClassVar[str]
    Config: ClassVar[type[Any]] = NoConfig

    def __init__(
        self,
        model: str | ChatModel | None = None,
        *,
        config: Any | None = None,
        models: Mapping[str, str | ChatModel] | None = None,
        kernel: Kernel | None = None,
        budget: Budget | None = None,
        sampling: Sampling | None = None,
        trace: TraceOption = None,
        **overrides: Any,
    ) -> None:
        base = config if config is not None else self.Config()
        if not isinstance(base, self.Config):
            raise ConfigError(f"{self.name}: config must be a {self.Config.__name__}, got {type(base).__name__}")
        fields = {f.name for f in dataclasses.fields(base)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ConfigError(
                f"{self.name}: unknown setting(s) {', '.join(unknown)}",
                hint=f"settings of {self.name}: {', '.join(sorted(fields)) or 'none'}",
            )
        self.config = dataclasses.replace(base, **overrides)
        self._model_spec = model if model is not None else settings.default_model()
        self._role_specs = dict(models or {})
        self._kernel = kernel
        self._budget = budget
        self._sampling = sampling
        self._trace = trace
        self._resolved: dict[str | int, ChatModel] = {}

    @abstractmethod
    async def solve(self, task: str, session: Session) -> str:
        """Run the method on ``task``; return its final text."""

    def extract(self, answer: str) -> str | None:
        """The final answer in the method's text (methods may refine this)."""
        return extract_answer(answer)

    def run_sync(self, task: str, **kwargs: Any) -> MethodResult:
        """``run`` for scripts and notebooks without an event loop (closes the backends after)."""
        return run_sync(lambda: self.run(task, **kwargs), lambda: self._backends)

    def run_stream(self, task: str) -> AsyncIterator[StreamEvent | RunFinished[MethodResult]]:
        """``run``, yielding its agents' events as they happen (text deltas, tool calls,
        handoffs, usage), then :class:`~agorakit.core.stream.RunFinished` with the result."""
        return stream_events(lambda: self.run(task))

    def _backend(self, spec: str | ChatModel) -> ChatModel:
        """The backend for ``spec``, resolved once per method (so run_sync can close it)."""
        key = spec if isinstance(spec, str) else id(spec)
        model = self._resolved.get(key)
        if model is None:
            model = self._resolved[key] = resolve_model(spec)
        return model

    @property
    def _backends(self) -> list[ChatModel]:
        return list(self._resolved.values())

    async def run(
        self,
        task: str,
        *,
        context: RunLedger | None = None,
        durability: Durability | None = None,
        run_id: str | None = None,
    ) -> MethodResult:
        """Run the method on ``task``.

        ``context`` lets the caller own the run's tracer, budget and usage ledger
        (a benchmark reads ``context.usage`` even when the run raises); by
        default a new one comes from the method's ``trace`` and ``budget``.
        ``durability`` journals the run so that :meth:`resume` can finish it if
        this process dies (see :mod:`agorakit.kernel.journal`); ``run_id`` names the run (default: a new id).
        """
        if not task.strip():
            raise ConfigError(f"{self.name}: the task is empty", hint="give the method a task, e.g. 'What is 17 * 23?'")
        if durability is None:
            return await self._run(task, context, None, run_id)
        if context is not None:
            raise ConfigError(f"{self.name}: durability is set by the run the method joins (context=...)")
        return await self.run_journaled(task, self.start_journal(task, durability, run_id or new_run_id()))

    def start_journal(
        self, task: str, durability: Durability, run_id: str, *, origin: dict[str, Any] | None = None
    ) -> RunJournal:
        """Open the journal of a new durable run of this method on ``task`` (``origin``: how
        ``agora resume`` builds the method again)."""
        return RunJournal.start(
            run_id, kind="method", name=self.name, fingerprint=self._fingerprint(),
            input={"task": task, "origin": origin}, durability=check_durability(durability),
        )  # fmt: skip

    async def run_journaled(self, task: str, journal: RunJournal) -> MethodResult:
        """Run on ``task`` with ``journal`` open (from :meth:`start_journal`)."""
        return await self._run(task, None, journal)

    def resume_sync(self, run_id: str, *, force: bool = False) -> MethodResult:
        """``resume`` for scripts and notebooks without an event loop."""
        return run_sync(lambda: self.resume(run_id, force=force), lambda: self._backends)

    async def resume(self, run_id: str, *, force: bool = False) -> MethodResult:
        """Finish a journaled run of this method (``run(..., durability=...)``) that stopped.

        The method runs again on the run's task with its journal open: every model call
        and tool call the journal holds is replayed (not sent or run again), so the method
        goes on from the round, node or ledger step it was in, and its result and usage are
        those of a run that was never interrupted. Another method, configuration or model
        than the run's is refused with the differences named, unless ``force``.
        """
        journal = RunJournal.resume(run_id, fingerprint=self._fingerprint(), force=force)
        return await self._run(str(journal.row.input["task"]), None, journal)

    def _fingerprint(self) -> dict[str, Any]:
        return {
            "method": self.name,
            "config": repr(self.config),
            "model": self._backend(self._model_spec).uri,
            "role models": {role: self._backend(spec).uri for role, spec in sorted(self._role_specs.items())},
        }

    async def _run(
        self, task: str, context: RunLedger | None, journal: RunJournal | None, run_id: str | None = None
    ) -> MethodResult:
        try:
            result = await self._solve_traced(task, context, journal, run_id)
        except BaseException:
            if journal is not None:
                journal.abandon()
            raise
        if journal is not None:
            journal.finish("final_answer" if result.final_answer is not None else "no_answer")
        return result

    async def _solve_traced(
        self, task: str, context: RunLedger | None, journal: RunJournal | None, run_id: str | None = None
    ) -> MethodResult:
        default = self._backend(self._model_spec)
        models = {role: self._backend(spec) for role, spec in self._role_specs.items()}
        run = context if context is not None else RunLedger.for_run(self._trace, self._budget, journal, run_id=run_id)
        tracer = run.tracer
        attributes: dict[str, Any] | None = None
        if tracer.enabled:
            attributes = {
                attr.OPERATION: OP_INVOKE_METHOD,
                "agorakit.method": self.name,
                attr.REQUEST_MODEL: default.model_name,
                "agorakit.method.config": repr(self.config),
            }
            if tracer.capture_content:
                attributes["agorakit.input"] = task
        session = Session(
            self.name, default, self._kernel or default_kernel(), run, models=models, sampling=self._sampling
        )
        if not run.provenance.has_user:
            run.provenance.add_user(task)  # the user's task, for source rules; members' tasks are not theirs
        with (
            traced_run(tracer, f"{OP_INVOKE_METHOD} {self.name}", attributes) as root,
            journaling(run.journal),
            recording(run.provenance),
        ):
            session.note(Message("user", task, name="user"))
            answer = await self.solve(task, session)
            result = MethodResult(
                method=self.name,
                answer=answer,
                final_answer=self.extract(answer),
                transcript=session.transcript,
                usage=run.usage,
                usage_by_agent=run.usage_by_agent,
                run_id=run.run_id,
                details=session.details,
            )
            if tracer.enabled:
                root.attributes.update(
                    {
                        attr.INPUT_TOKENS: run.usage.input_tokens,
                        attr.OUTPUT_TOKENS: run.usage.output_tokens,
                        "agorakit.calls": run.usage.calls,
                    }
                )
                if tracer.capture_content:
                    root.attributes["agorakit.output"] = answer
        return result
