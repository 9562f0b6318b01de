"""``Policy``: per-tool rule lists, checked in microseconds.

A call to tool ``T`` with arguments ``A`` is decided by ``T``'s rules whose
``when`` constraints all hold for ``A`` (a rule without ``when`` holds for
every call). The highest-priority such rule decides; at equal priority a deny
beats an allow. No rule holds: denied. ``T`` not in the policy: denied.

Loading sorts each tool's rules into evaluation order (priority descending,
deny before allow, then file order), so checking is "the first rule that
holds decides", and builds every possible :class:`Decision` up front.

A rule with ``source`` constraints also needs the run's
:class:`~agorakit.core.provenance.Provenance`: it holds only if its other
constraints do and each value is found in an allowed source. An allow rule
that fails only on a source is remembered: if no later rule holds, its
refusal (saying where the value was found) decides, with its fallback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agorakit.core.provenance import Provenance, Source, Trust
from agorakit.policy.compiled import CompiledRule, compile_rules
from agorakit.policy.decision import Decision, Fallback, Mode
from agorakit.policy.errors import PolicyError
from agorakit.policy.loader import KnownTools, Rule, ToolLike, argument_names, parse_data, read_source
from agorakit.policy.sources import trace_sources

Approver = Callable[[str, Mapping[str, Any], Decision], Awaitable[bool]]
"""Asked about a refused call (``fallback: ask``) or a widening policy update:
``await approver(tool, arguments, decision)`` returns True to allow it."""

NOT_IN_POLICY = "tool not in policy"
ALLOW_ALL = "allow_all mode: every call is allowed"

_MISSING: Any = object()


class Policy:
    """Privilege control over tool calls. Immutable: composing or narrowing makes a new one.

    Build with :meth:`load`, :meth:`from_dict` or :meth:`allow_all`; ask with
    :meth:`check`. See ``docs/policies.md`` for the format.
    """

    __slots__ = (
        "_fallback",
        "_label",
        "_layers",
        "_mode",
        "_not_listed",
        "_rules",
        "_source",
        "_table",
        "_trust",
    )

    def __init__(
        self,
        rules: Mapping[str, Sequence[Rule]],
        *,
        mode: Mode = "enforce",
        fallback: Fallback = "error",
        source: str = "<policy>",
        label: str | None = None,
        layers: tuple[Policy, ...] = (),
        trust: Mapping[str, Trust] | None = None,
    ) -> None:
        self._mode: Mode = mode
        self._trust: dict[str, Trust] = dict(trust or {})
        self._fallback: Fallback = fallback
        self._source = source
        self._label = label
        self._rules: dict[str, tuple[Rule, ...]] = {tool: tuple(items) for tool, items in rules.items()}
        # Policies that must allow a call too: the narrowing updates applied to this one.
        self._layers = layers
        suffix = f" ({label})" if label else ""
        if mode == "allow_all":
            self._not_listed = Decision(True, ALLOW_ALL + suffix, None, fallback)
            self._table: dict[str, tuple[tuple[CompiledRule, ...], Decision]] = {}
        else:
            self._not_listed = Decision(False, NOT_IN_POLICY + suffix, None, fallback)
            self._table = {
                tool: compile_rules(tool, items, label=label, fallback=fallback, suffix=suffix)
                for tool, items in self._rules.items()
            }

    # -- construction ---------------------------------------------------------------

    @classmethod
    def load(cls, path_or_text: str | Path, known_tools: KnownTools | None = None) -> Policy:
        """A policy from a YAML or JSON file, or from the text itself.

        ``known_tools`` (tool names, or ``ToolSpec``/``Tool`` objects, which
        also let argument names be checked) makes a policy naming any other
        tool a :class:`PolicyError`.
        """
        data, source = read_source(path_or_text)
        return cls.from_dict(data, known_tools, source=source)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], known_tools: KnownTools | None = None, *, source: str = "<policy>"
    ) -> Policy:
        """A policy from plain data in the file format (``{"version": 1, "tools": {...}}``)."""
        parsed = parse_data(data, source, known_tools)
        return cls(parsed.rules, mode=parsed.mode, fallback=parsed.fallback, source=source, trust=parsed.trust)

    @classmethod
    def allow_all(cls, *, fallback: Fallback = "error") -> Policy:
        """Every call allowed, every decision still audited (explicit allow-all mode)."""
        return cls({}, mode="allow_all", fallback=fallback, source="<allow_all>")

    # -- checking ---------------------------------------------------------------------

    def check(self, tool: str, arguments: Mapping[str, Any], provenance: Provenance | None = None) -> Decision:
        """Decide one call. Pure: no I/O, no state.

        ``provenance`` is the run's record, which rules with ``source``
        constraints look values up in (the gate passes the current one); without
        it such a rule cannot hold.
        """
        entry = self._table.get(tool)
        if entry is None:
            decision = self._not_listed
        else:
            rules, decision = entry
            refused: Decision | None = None
            for rule in rules:
                for name, test in rule.checks:
                    value = arguments.get(name, _MISSING)
                    if value is _MISSING or not test(value):
                        break
                else:
                    if not rule.sources:
                        decision = rule.decision
                        break
                    found, problem = trace_sources(rule.sources, arguments, provenance)
                    chosen = rule.decision
                    if problem is None:
                        decision = Decision(chosen.allowed, chosen.reason, chosen.rule, chosen.fallback, found)
                        break
                    if refused is None and chosen.allowed:
                        reason = f"denied by rule {chosen.rule}: {problem}"
                        refused = Decision(False, reason, chosen.rule, chosen.fallback, found)
            else:
                if refused is not None:
                    decision = refused
        if self._layers and decision.allowed:
            found_by_layers: tuple[tuple[str, str], ...] = ()
            for layer in self._layers:
                verdict = layer.check(tool, arguments, provenance)
                if not verdict.allowed:
                    return verdict
                found_by_layers += verdict.sources
            if found_by_layers:
                return dataclasses.replace(decision, sources=decision.sources + found_by_layers)
        return decision

    def trust(self, tool: str) -> Trust:
        """The trust this policy gives ``tool``'s output: ``trusted`` only where it says so.

        Narrowing updates can lower it (an update saying ``untrusted`` wins) but not raise it.
        """
        level = self._trust.get(tool, "untrusted")
        if level == "trusted" and self._layers:
            for layer in self._layers:
                if layer._trust.get(tool) == "untrusted":
                    return "untrusted"
        return level

    # -- introspection ----------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        """``enforce`` or ``allow_all``."""
        return self._mode

    @property
    def fallback(self) -> Fallback:
        """The default fallback: for tools not in the policy and rules that set none."""
        return self._fallback

    @property
    def source(self) -> str:
        """Where the policy came from (a file path, ``<policy>``, ``<generated>``...), for messages."""
        return self._source

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools this policy has rules for (not counting narrowing updates)."""
        return tuple(self._rules)

    @property
    def narrowed(self) -> bool:
        """Whether updates have narrowed this policy (it then has no single rule list)."""
        return bool(self._layers)

    def rules(self, tool: str) -> tuple[Rule, ...]:
        """``tool``'s rules in the order written (``rule`` names index into this)."""
        return self._rules.get(tool, ())

    def mentions(self, tool: str) -> bool:
        """Whether some call to ``tool`` could be allowed at all: it is listed in every layer."""
        if self.mode == "allow_all":
            return True
        return tool in self._rules and all(layer.mentions(tool) for layer in self._layers)

    def to_dict(self) -> dict[str, Any]:
        """The policy in the file format (``Policy.from_dict(p.to_dict())`` rebuilds it)."""
        if self._layers:
            raise PolicyError(f"{self.source}: a narrowed policy has no single rule list to write out")
        data: dict[str, Any] = {"version": 1, "mode": self.mode, "fallback": self.fallback}
        if self._trust:
            data["trust"] = dict(self._trust)
        data["tools"] = {tool: [rule.to_dict() for rule in rules] for tool, rules in self._rules.items()}
        return data

    def validate_arguments(self, tools: Iterable[ToolLike]) -> None:
        """Raise :class:`PolicyError` if a rule names an argument one of ``tools`` does not take.

        Tools the policy does not mention, and policy tools not among ``tools``,
        are fine (a deployment policy may cover more tools than one agent has).
        A misspelt argument would make its rule never hold, and a deny rule
        that never holds lets through what it was written to stop.
        """
        for spec in tools:
            names = argument_names(spec.parameters)
            if names is None:
                continue
            for policy in (self, *self._layers):
                for index, rule in enumerate(policy._rules.get(spec.name, ())):
                    for argument in rule.when:
                        if argument not in names:
                            takes = ", ".join(names) or "no arguments"
                            raise PolicyError(
                                f"{policy.source}: tools.{spec.name}[{index}].when.{argument}: "
                                f"tool {spec.name} has no argument {argument!r} (it takes: {takes})"
                            )

    def __repr__(self) -> str:
        layers = f", narrowed by {len(self._layers)}" if self._layers else ""
        return f"Policy({self.source!r}, mode={self.mode}, tools={len(self._rules)}{layers})"

    # -- composition ------------------------------------------------------------------

    def compose(self, other: Policy) -> Policy:
        """This policy (a deployment base) plus ``other`` (a task policy): their rules merged per tool.

        Each tool's rule list is this policy's rules followed by ``other``'s,
        decided as one list: a call passes if an allow rule of either holds
        and no deny rule of either holds at the same or a higher priority.
        Rule names index into the merged lists (``to_dict()`` writes them).
        The result keeps this policy's default fallback; ``other``'s rules
        keep theirs. A tool's output is trusted if either policy trusts it and
        neither says ``untrusted``. Both must be enforcing (composing with allow-all has no
        useful meaning: raise rather than guess) and not narrowed.
        """
        if self._layers or other._layers:
            raise PolicyError("compose policies before narrowing them: a narrowed policy has no single rule list")
        if self.mode != other.mode:
            raise PolicyError(
                f"cannot compose {self.source} (mode {self.mode}) with {other.source} (mode {other.mode})",
                hint="allow-all ignores every rule; use the enforcing policy alone, or switch both to allow_all",
            )
        merged = {tool: list(rules) for tool, rules in self._rules.items()}
        for tool, rules in other._rules.items():
            if other.fallback != self.fallback:
                rules = tuple(
                    rule if rule.fallback is not None else dataclasses.replace(rule, fallback=other.fallback)
                    for rule in rules
                )
            merged.setdefault(tool, []).extend(rules)
        trust = dict(self._trust)
        for tool, level in other._trust.items():
            if trust.get(tool) != "untrusted":
                trust[tool] = level
        return Policy(
            merged, mode=self.mode, fallback=self.fallback, source=f"{self.source}+{other.source}", trust=trust
        )

    async def narrow(self, update: Policy, approve: Approver | None = None) -> Policy:
        """Apply a policy update made during a run: the result allows a call only if both do.

        An update can therefore only narrow. An update that tries to widen (it
        switches to allow-all mode, or allows a tool this policy does not
        mention) is put to ``approve`` once per widening, as
        ``approve(tool, {}, decision)`` with ``tool="*"`` for allow-all; if all
        are approved the widening takes effect (allow-all replaces the policy;
        an added tool gets the update's rules), otherwise :class:`PolicyError`.
        """
        widenings = self._widenings(update)
        base, layers = self, self._layers
        if widenings:
            for tool, reason in widenings:
                decision = Decision(False, reason, None, "ask")
                if approve is None:
                    raise PolicyError(
                        f"policy update refused: {reason}",
                        hint="an update may only narrow the policy; widening it needs an approver",
                    )
                if not await approve(tool, {}, decision):
                    raise PolicyError(f"policy update refused: {reason} (not approved)")
            if update.mode == "allow_all":
                return update
            added = {tool: update._rules[tool] for tool, _ in widenings}
            base = self._with_missing(added)
            layers = base._layers
        if self.mode == "allow_all":
            return update  # everything narrowed by the update is the update
        return base._layered(update, f"update{len(layers) + 1}")

    def for_task(
        self,
        tools: Iterable[str],
        *,
        sources: Mapping[str, Mapping[str, Source | Sequence[Source]]] | None = None,
        fallback: Fallback | None = None,
    ) -> Policy:
        """This policy narrowed to one task: only ``tools`` may be called, and ``sources``
        (tool -> argument -> ``user``/``trusted`` or a list of them) say where arguments' values
        must come from.

        The task layer allows a call only if this policy allows it too (as
        :meth:`narrow` does), so it can only take privileges away; a tool this
        policy does not mention is a :class:`PolicyError`. A call the task
        layer refuses takes ``fallback`` (default: this policy's). Decisions
        from it are labelled ``task:TOOL[0]``.
        """
        names = [tools] if isinstance(tools, str) else list(dict.fromkeys(tools))
        wanted = dict(sources or {})
        strays = [tool for tool in wanted if tool not in names]
        if strays:
            raise PolicyError(
                f"for_task: sources name tools the task may not use: {', '.join(strays)}",
                hint="add them to tools, or drop their sources",
            )
        unknown = [tool for tool in names if not self.mentions(tool)]
        if unknown:
            raise PolicyError(
                f"for_task: {self.source} does not allow {', '.join(map(repr, unknown))}: "
                "a task can only narrow the policy",
                hint="add the tools to the deployment policy first",
            )
        rules = {
            tool: (
                Rule(
                    tool,
                    "allow",
                    when={argument: {"source": source} for argument, source in wanted.get(tool, {}).items()},
                    reason="the task's tools",
                ),
            )
            for tool in names
        }
        if self.mode == "allow_all":
            return Policy(rules, fallback=fallback or self.fallback, source="<task>", label="task", trust=self._trust)
        return self._layered(Policy(rules, fallback=fallback or self.fallback, source="<task>"), "task")

    # -- internals --------------------------------------------------------------------

    def _layered(self, update: Policy, label: str) -> Policy:
        return Policy(
            self._rules,
            mode=self.mode,
            fallback=self.fallback,
            source=self.source,
            label=self._label,
            layers=(*self._layers, update._relabelled(label)),
            trust=self._trust,
        )

    def _widenings(self, update: Policy) -> list[tuple[str, str]]:
        if self.mode == "allow_all":
            return []
        if update.mode == "allow_all":
            return [("*", "the update switches to allow_all mode")]
        return [
            (tool, f"the update allows tool {tool!r}, which the current policy does not mention")
            for tool, rules in update._rules.items()
            if any(rule.effect == "allow" for rule in rules) and not self.mentions(tool)
        ]

    def _with_missing(self, added: Mapping[str, tuple[Rule, ...]]) -> Policy:
        """A copy where every layer lacking one of ``added``'s tools gets its rules."""
        rules = {**{tool: r for tool, r in added.items() if tool not in self._rules}, **self._rules}
        layers = tuple(layer._with_missing(added) for layer in self._layers)
        return Policy(
            rules,
            mode=self.mode,
            fallback=self.fallback,
            source=self.source,
            label=self._label,
            layers=layers,
            trust=self._trust,
        )

    def _relabelled(self, label: str) -> Policy:
        return Policy(
            self._rules,
            mode=self.mode,
            fallback=self.fallback,
            source=self.source,
            label=label,
            layers=self._layers,
            trust=self._trust,
        )
