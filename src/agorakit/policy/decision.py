"""What a policy check returns, and the small vocabulary of the policy format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Effect = Literal["allow", "deny"]
Mode = Literal["enforce", "allow_all"]
Fallback = Literal["error", "stop", "ask"]

EFFECTS: tuple[Effect, ...] = ("allow", "deny")
MODES: tuple[Mode, ...] = ("enforce", "allow_all")
FALLBACKS: tuple[Fallback, ...] = ("error", "stop", "ask")


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one tool call.

    ``reason`` is a short human-readable sentence for the audit log (and, on a
    denial, for the observation the model reads). ``rule`` names the rule that
    decided, as ``tool[index]`` in the policy's rule list, or ``None`` when no
    rule did (tool not in the policy, no rule matched, allow-all mode).
    ``fallback`` is what the gate does if the call is refused. ``sources``
    says, for each argument a ``source`` rule looked up, where its value was
    found: ``(argument, "user")``, ``("recipient", "untrusted output of
    read_inbox")``, ``("iban", "no source")``.

    Policies build their decisions once, when they are loaded, and hand out
    the same objects: a check allocates nothing, except for rules with
    ``source`` constraints, whose decisions carry what was found.
    """

    allowed: bool
    reason: str
    rule: str | None
    fallback: Fallback
    sources: tuple[tuple[str, str], ...] = ()
