"""Per-run state the kernel needs: the tracer, usage accounting and the budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agorakit.core.errors import BudgetExceeded
from agorakit.core.ids import new_run_id
from agorakit.core.provenance import Provenance
from agorakit.core.usage import Usage
from agorakit.trace.setup import TraceOption, tracer_for
from agorakit.trace.tracer import Tracer

if TYPE_CHECKING:
    from agorakit.kernel.journal import RunJournal


@dataclass(slots=True, frozen=True)
class Budget:
    """Limits that end a run cleanly. ``None`` means no limit.

    Limits are checked before each model call, so a run never starts a call
    past its call limit; the token and cost limits can be overshot by the one
    call that crosses them.
    """

    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None


@dataclass(slots=True)
class RunLedger:
    """Everything shared by the model calls of one run, across its agents."""

    tracer: Tracer
    budget: Budget = field(default_factory=Budget)
    usage: Usage = field(default_factory=Usage)
    usage_by_agent: dict[str, Usage] = field(default_factory=dict)
    usage_by_model: dict[str, Usage] = field(default_factory=dict)
    #: Where this run's calls go in a backend's queue under the ``priority`` scheduling policy (higher first).
    priority: int = 0
    #: System prompts already traced in this run (a team's agents run once per turn with the same one).
    traced_prompts: set[str] = field(default_factory=set)
    #: A durable run's journal: model calls it holds are replayed, new ones recorded.
    journal: RunJournal | None = None
    #: Where the run's data came from (the user's words, labelled tool outputs), for ``source`` rules.
    provenance: Provenance = field(default_factory=Provenance)

    @property
    def run_id(self) -> str:
        return self.tracer.run_id

    @classmethod
    def create(cls, tracer: Tracer | None = None, budget: Budget | None = None, *, priority: int = 0) -> RunLedger:
        return cls(tracer or Tracer(new_run_id()), budget or Budget(), priority=priority)

    @classmethod
    def for_run(
        cls, trace: TraceOption, budget: Budget | None, journal: RunJournal | None = None, *, run_id: str | None = None
    ) -> RunLedger:
        """A new run's ledger, traced as ``trace`` says (see :func:`~agorakit.trace.setup.tracer_for`),
        named ``run_id`` (default: a new id). A durable run takes its journal's run id; a resumed
        one first drops what the trace store holds of it, since it traces every step again,
        replayed ones too."""
        tracer = tracer_for(trace, journal.run_id if journal is not None else run_id)
        forget = getattr(tracer.sink, "forget", None)
        if journal is not None and journal.resumed and forget is not None:
            forget(journal.run_id)
        ledger = cls.create(tracer, budget)
        ledger.journal = journal
        return ledger

    def record(self, usage: Usage, *, agent: str | None, model: str) -> None:
        self.usage.add(usage)
        if agent is not None:
            _ledger(self.usage_by_agent, agent).add(usage)
        _ledger(self.usage_by_model, model).add(usage)

    def check_budget(self) -> None:
        """Raise :class:`BudgetExceeded` if the next call would break a limit."""
        budget, used = self.budget, self.usage
        if budget.max_calls is not None and used.calls >= budget.max_calls:
            raise BudgetExceeded(
                f"run budget exhausted: {used.calls} model calls of {budget.max_calls} allowed",
                limit="calls",
                used=used.calls,
                allowed=budget.max_calls,
            )
        if budget.max_tokens is not None and used.total_tokens >= budget.max_tokens:
            raise BudgetExceeded(
                f"run budget exhausted: {used.total_tokens} tokens of {budget.max_tokens} allowed",
                limit="tokens",
                used=used.total_tokens,
                allowed=budget.max_tokens,
            )
        if budget.max_cost_usd is not None and used.cost_usd >= budget.max_cost_usd:
            raise BudgetExceeded(
                f"run budget exhausted: ${used.cost_usd:.4f} of ${budget.max_cost_usd:.4f} allowed",
                limit="cost",
                used=used.cost_usd,
                allowed=budget.max_cost_usd,
            )


def _ledger(book: dict[str, Usage], key: str) -> Usage:
    entry = book.get(key)
    if entry is None:
        entry = book[key] = Usage()
    return entry
