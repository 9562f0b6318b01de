"""What a replay of AgentDojo's ground truths found: per task, per suite, and over the benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

TaskKind = Literal["user", "injection"]


@dataclass(frozen=True, slots=True)
class Ratio:
    """``hits`` out of ``total``, printed as ``97.5% (39/40)``."""

    hits: int
    total: int

    @property
    def percent(self) -> float | None:
        return 100.0 * self.hits / self.total if self.total else None

    def __str__(self) -> str:
        if not self.total:
            return "n/a (0/0)"
        return f"{self.percent:.1f}% ({self.hits}/{self.total})"

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.hits + other.hits, self.total + other.total)

    def to_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "total": self.total, "percent": self.percent}


@dataclass(frozen=True, slots=True)
class DeniedCall:
    tool: str
    arguments: dict[str, Any]
    reason: str


@dataclass(frozen=True, slots=True)
class TaskReplay:
    """One task replayed once.

    ``success`` is AgentDojo's verdict: for a user task, the utility held;
    for an injection task, the attack succeeded.
    """

    task_id: str
    kind: TaskKind
    calls: int
    success: bool
    denied: tuple[DeniedCall, ...] = ()
    tool_errors: tuple[str, ...] = ()
    """Observations of calls that ran and failed (not policy denials)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "kind": self.kind,
            "calls": self.calls,
            "success": self.success,
            "denied": [{"tool": d.tool, "arguments": d.arguments, "reason": d.reason} for d in self.denied],
            "tool_errors": list(self.tool_errors),
        }


@dataclass(frozen=True, slots=True)
class SuiteReplay:
    """A suite's replays, with its policy and without (the baseline)."""

    suite: str
    benchmark_version: str
    user_policy: tuple[TaskReplay, ...]
    user_baseline: tuple[TaskReplay, ...]
    injection_policy: tuple[TaskReplay, ...]
    injection_baseline: tuple[TaskReplay, ...]
    seconds: float = 0.0

    @property
    def utility_preserved(self) -> Ratio:
        """User tasks whose utility holds with the policy."""
        return _count(self.user_policy, lambda r: r.success)

    @property
    def utility_baseline(self) -> Ratio:
        return _count(self.user_baseline, lambda r: r.success)

    @property
    def attacks_stopped(self) -> Ratio:
        """Injection tasks (with at least one call) that failed with the policy."""
        return _count(self.injection_policy, lambda r: not r.success, reachable_only=True)

    @property
    def attacks_stopped_baseline(self) -> Ratio:
        return _count(self.injection_baseline, lambda r: not r.success, reachable_only=True)

    @property
    def out_of_reach(self) -> tuple[str, ...]:
        """Injection tasks whose ground truth makes no tool call."""
        return tuple(r.task_id for r in self.injection_policy if r.calls == 0)

    @property
    def utility_lost(self) -> tuple[TaskReplay, ...]:
        """User tasks the policy broke (their utility held without it)."""
        baseline = {r.task_id: r.success for r in self.user_baseline}
        return tuple(r for r in self.user_policy if not r.success and baseline.get(r.task_id, False))

    @property
    def attacks_through(self) -> tuple[TaskReplay, ...]:
        """Reachable injection tasks that still succeeded with the policy."""
        return tuple(r for r in self.injection_policy if r.success and r.calls)

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "suite": self.suite,
            "benchmark_version": self.benchmark_version,
            "user_tasks": len(self.user_policy),
            "injection_tasks": len(self.injection_policy),
            "utility_baseline": self.utility_baseline.to_dict(),
            "utility_preserved": self.utility_preserved.to_dict(),
            "attacks_stopped_baseline": self.attacks_stopped_baseline.to_dict(),
            "attacks_stopped": self.attacks_stopped.to_dict(),
            "out_of_reach": list(self.out_of_reach),
            "utility_lost": [r.task_id for r in self.utility_lost],
            "attacks_through": [r.task_id for r in self.attacks_through],
            "seconds": round(self.seconds, 3),
        }
        if details:
            data["tasks"] = {
                "user_policy": [r.to_dict() for r in self.user_policy],
                "user_baseline": [r.to_dict() for r in self.user_baseline],
                "injection_policy": [r.to_dict() for r in self.injection_policy],
                "injection_baseline": [r.to_dict() for r in self.injection_baseline],
            }
        return data


@dataclass(frozen=True, slots=True)
class BenchmarkReplay:
    """All suites' replays, and their totals."""

    benchmark_version: str
    suites: tuple[SuiteReplay, ...] = field(default_factory=tuple)

    @property
    def utility_preserved(self) -> Ratio:
        return _total(s.utility_preserved for s in self.suites)

    @property
    def utility_baseline(self) -> Ratio:
        return _total(s.utility_baseline for s in self.suites)

    @property
    def attacks_stopped(self) -> Ratio:
        return _total(s.attacks_stopped for s in self.suites)

    @property
    def attacks_stopped_baseline(self) -> Ratio:
        return _total(s.attacks_stopped_baseline for s in self.suites)

    @property
    def out_of_reach(self) -> int:
        return sum(len(s.out_of_reach) for s in self.suites)

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        return {
            "benchmark": "agentdojo",
            "benchmark_version": self.benchmark_version,
            "suites": [s.to_dict(details=details) for s in self.suites],
            "overall": {
                "user_tasks": sum(len(s.user_policy) for s in self.suites),
                "injection_tasks": sum(len(s.injection_policy) for s in self.suites),
                "utility_baseline": self.utility_baseline.to_dict(),
                "utility_preserved": self.utility_preserved.to_dict(),
                "attacks_stopped_baseline": self.attacks_stopped_baseline.to_dict(),
                "attacks_stopped": self.attacks_stopped.to_dict(),
                "out_of_reach": self.out_of_reach,
            },
        }


def _count(runs: Sequence[TaskReplay], hit: Any, *, reachable_only: bool = False) -> Ratio:
    counted = [r for r in runs if r.calls or not reachable_only]
    return Ratio(sum(1 for r in counted if hit(r)), len(counted))


def _total(ratios: Any) -> Ratio:
    total = Ratio(0, 0)
    for ratio in ratios:
        total = total + ratio
    return total
