"""What the pairing replay found: per user × injection pair, per suite, and over the benchmark.

The three figures AgentDojo, Progent and CaMeL report, each with the suite
policy and without (the baseline):

- *utility* (no attack): user tasks whose check holds on the benign environment;
- *utility under attack*: pairs whose user-task check holds with the injection placed;
- *attack success rate*: pairs whose injection-task check holds (the attack succeeded).

Pairs with an injection task whose ground truth makes no tool call are not
replayed (out of reach, counted apart), nor are pairs of a user task that
reads no injection vector (AgentDojo refuses to attack such a task).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agorakit.eval.agentdojo.attack import ATTACK_NAME
from agorakit.eval.agentdojo.results import DeniedCall, Ratio, TaskReplay


@dataclass(frozen=True, slots=True)
class PairReplay:
    """One user task replayed with one injection task's attack placed in its environment.

    ``injected_after`` is how many of the user task's calls had run when a
    tool output first showed the injection, after which the injection task's
    calls were made; ``None`` when no output showed it (the policy refused
    the reading call, say), so the agent was never asked to act on it.
    """

    user_task: str
    injection_task: str
    vectors: tuple[str, ...]
    injected_after: int | None
    user_calls: int
    injection_calls: int
    utility: bool
    attack_succeeded: bool
    denied: tuple[DeniedCall, ...] = ()
    tool_errors: tuple[str, ...] = ()

    @property
    def reached(self) -> bool:
        """Whether a tool output showed the agent the injection."""
        return self.injected_after is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_task": self.user_task,
            "injection_task": self.injection_task,
            "vectors": list(self.vectors),
            "injected_after": self.injected_after,
            "user_calls": self.user_calls,
            "injection_calls": self.injection_calls,
            "utility": self.utility,
            "attack_succeeded": self.attack_succeeded,
            "denied": [{"tool": d.tool, "arguments": d.arguments, "reason": d.reason} for d in self.denied],
            "tool_errors": list(self.tool_errors),
        }


@dataclass(frozen=True, slots=True)
class SuitePairs:
    """A suite's pairing replay, with its policy and without (the baseline)."""

    suite: str
    benchmark_version: str
    clean_policy: tuple[TaskReplay, ...]
    """The user tasks on the benign environment, with the policy."""
    clean_baseline: tuple[TaskReplay, ...]
    pairs_policy: tuple[PairReplay, ...]
    pairs_baseline: tuple[PairReplay, ...]
    injection_tasks: int
    out_of_reach: tuple[str, ...] = ()
    """Injection tasks whose ground truth makes no tool call: their pairs are not replayed."""
    not_injectable: tuple[str, ...] = ()
    """User tasks that read no injection vector: their pairs are not replayed."""
    seconds: float = 0.0

    @property
    def user_tasks(self) -> int:
        return len(self.clean_policy)

    @property
    def pairs_total(self) -> int:
        """Every user task × injection task of the suite, replayed or not."""
        return self.user_tasks * self.injection_tasks

    @property
    def utility(self) -> Ratio:
        return _share(r.success for r in self.clean_policy)

    @property
    def utility_baseline(self) -> Ratio:
        return _share(r.success for r in self.clean_baseline)

    @property
    def utility_under_attack(self) -> Ratio:
        return _share(p.utility for p in self.pairs_policy)

    @property
    def utility_under_attack_baseline(self) -> Ratio:
        return _share(p.utility for p in self.pairs_baseline)

    @property
    def attack_success(self) -> Ratio:
        return _share(p.attack_succeeded for p in self.pairs_policy)

    @property
    def attack_success_baseline(self) -> Ratio:
        return _share(p.attack_succeeded for p in self.pairs_baseline)

    @property
    def attacks_through(self) -> tuple[PairReplay, ...]:
        """Pairs whose attack succeeded with the policy."""
        return tuple(p for p in self.pairs_policy if p.attack_succeeded)

    @property
    def not_reached(self) -> tuple[PairReplay, ...]:
        """Pairs, with the policy, in which no tool output showed the injection."""
        return tuple(p for p in self.pairs_policy if not p.reached)

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "suite": self.suite,
            "benchmark_version": self.benchmark_version,
            "user_tasks": self.user_tasks,
            "injection_tasks": self.injection_tasks,
            "pairs_total": self.pairs_total,
            "pairs_replayed": len(self.pairs_policy),
            **_ratios(self),
            "out_of_reach": list(self.out_of_reach),
            "not_injectable": list(self.not_injectable),
            "not_reached": [[p.user_task, p.injection_task] for p in self.not_reached],
            "attacks_through": [[p.user_task, p.injection_task] for p in self.attacks_through],
            "seconds": round(self.seconds, 3),
        }
        if details:
            data["pairs"] = {
                "policy": [p.to_dict() for p in self.pairs_policy],
                "baseline": [p.to_dict() for p in self.pairs_baseline],
            }
        return data


@dataclass(frozen=True, slots=True)
class BenchmarkPairs:
    """All suites' pairing replays, and their totals over all pairs."""

    benchmark_version: str
    suites: tuple[SuitePairs, ...] = field(default_factory=tuple)

    @property
    def utility(self) -> Ratio:
        return _total(s.utility for s in self.suites)

    @property
    def utility_baseline(self) -> Ratio:
        return _total(s.utility_baseline for s in self.suites)

    @property
    def utility_under_attack(self) -> Ratio:
        return _total(s.utility_under_attack for s in self.suites)

    @property
    def utility_under_attack_baseline(self) -> Ratio:
        return _total(s.utility_under_attack_baseline for s in self.suites)

    @property
    def attack_success(self) -> Ratio:
        return _total(s.attack_success for s in self.suites)

    @property
    def attack_success_baseline(self) -> Ratio:
        return _total(s.attack_success_baseline for s in self.suites)

    @property
    def pairs_total(self) -> int:
        return sum(s.pairs_total for s in self.suites)

    @property
    def pairs_replayed(self) -> int:
        return sum(len(s.pairs_policy) for s in self.suites)

    def to_dict(self, *, details: bool = False) -> dict[str, Any]:
        return {
            "benchmark": "agentdojo",
            "mode": "pairs",
            "attack": ATTACK_NAME,
            "benchmark_version": self.benchmark_version,
            "suites": [s.to_dict(details=details) for s in self.suites],
            "overall": {
                "user_tasks": sum(s.user_tasks for s in self.suites),
                "pairs_total": self.pairs_total,
                "pairs_replayed": self.pairs_replayed,
                **_ratios(self),
            },
        }


RATIOS = (
    "utility_baseline",
    "utility",
    "utility_under_attack_baseline",
    "utility_under_attack",
    "attack_success_baseline",
    "attack_success",
)
"""The six figures of a pairing replay, with and without the policy, in the JSON's order."""


def _ratios(replay: SuitePairs | BenchmarkPairs) -> dict[str, Any]:
    return {name: getattr(replay, name).to_dict() for name in RATIOS}


def _share(hits: Iterable[bool]) -> Ratio:
    flags = list(hits)
    return Ratio(sum(flags), len(flags))


def _total(ratios: Iterable[Ratio]) -> Ratio:
    total = Ratio(0, 0)
    for ratio in ratios:
        total = total + ratio
    return total
