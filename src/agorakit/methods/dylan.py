"""DyLAN (Liu et al., "A Dynamic LLM-Powered Agent Network for Task-Oriented
Agent Collaboration", COLM 2024; official code github:SALT-NLP/DyLAN,
``code/MMLU/LLMLP.py`` and ``LLM_Neuron.py`` run on MATH).

Algorithm, as in the official implementation:

* A team of agents (math setting: Assistant, Mathematician, Mathematician,
  Assistant) answers over up to ``layers`` time steps. In layer 1 each agent
  sees only the task; in layer t > 1 each active agent sees the task and the
  replies of the previous layer's active agents (its own included, order
  shuffled), updates its answer, and scores each of those replies from 1 to 5
  in the form ``[[s1, s2, ...]]``.
* Early stop ("consensus"): inside a layer, once more than 2/3 of the layer's
  active agents have answered, the extracted answers are checked after every
  reply; when the most frequent answer is given by more than
  ``floor(2/3 * active)`` agents (i.e. strictly more than 2/3 of them: 3 of 4,
  2 of 2, 3 of 3) the run stops and that answer is final. The first
  ``floor(2/3 * active) + 1`` agents of a layer run concurrently (no consensus
  is possible before), the rest one at a time, as in the official loop.
* Agent selection: before layer 3 and every later layer, while more than
  ``top_k`` agents are active, an LLM ranker (structured output: a ranking of
  the shown solutions) ranks the previous layer's replies; only the agents of
  the ``top_k`` best stay active, the others make no further calls.
* Without consensus the final answer is the most frequent answer of the last
  layer (ties: the answer given first in the layer's answering order).
* Agent Importance Score (the official ``backward``): in the last layer each
  node whose answer equals the final answer gets ``1 / (number of such
  nodes)``, the others 0. Going backwards, a node's importance is the sum over
  the next layer's nodes of (the weight that node gave it) x (that node's
  importance); a node's weights are its 1-5 scores divided by 5 (scores above
  5 count as 1, missing or non-positive as 0), normalised to sum to 1 (all
  zero or a malformed score list -> uniform). An agent's importance is the sum
  of its nodes' importances over the layers. So every layer that ran carries
  a total importance of 1 (when some last-layer answer could be extracted),
  and the agents' importances sum to the number of layers that ran.
  ``MethodResult.details["importance"]`` maps agent name -> score.
* Team optimization: :func:`select_team` runs DyLAN with all candidate agents
  on validation tasks and keeps the ``k`` agents with the highest mean
  importance.

Deliberate differences:

* The official layer >= 3 loop compares a shuffled *position* with the
  selected agent ids (``if idx in idx_mask``), so it activates random agents;
  agorakit activates the agents the ranker selected, as the paper describes.
* The official ranker is free text ending in ``[1,2]`` (falling back to a
  random pair on a parse failure); here it is a structured ranking, validated
  and retried; unknown or repeated ids are dropped and a short ranking is
  completed in the order the solutions were shown.
* Answers are compared after :func:`~agorakit.methods.answers.extract_answer`
  (exact string match) instead of the MATH ``is_equiv`` normaliser, and layer
  1 asks for a closing "The answer is ..." line so the extractor finds it.
* Shuffling (agent order, the order of shown solutions) uses a seeded
  ``random.Random(seed)`` per run, so runs are reproducible; ``shuffle=False``
  keeps the team order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.answers import extract_answer
from agorakit.methods.base import Method
from agorakit.methods.session import Session

# Role descriptions in our own words (the official ROLE_MAP_MATH names).
ROLE_DESCRIPTIONS: dict[str, str] = {
    "Assistant": "You are a highly capable AI assistant who solves problems carefully and accurately.",
    "Mathematician": "You are a mathematician, strong at arithmetic, mathematical puzzles and planning a solution.",
    "AlgebraExpert": "You are an algebra expert: equations, variables and symbol manipulation are your craft.",
    "CountingProbabilitySpecialist": "You specialise in counting and probability and compute outcomes precisely.",
    "GeometryWizard": "You are a geometry expert who reasons well about shapes, lengths, areas and proofs.",
    "IntermediateAlgebraMaestro": "You are an expert in intermediate algebra: polynomials and quadratic relations.",
    "NumberTheoryScholar": "You are a number theorist: primes, divisibility and numerical patterns.",
    "PrealgebraProdigy": "You are strong at prealgebra: operations, fractions and basic equations.",
    "PrecalculusGuru": "You are strong at precalculus: functions, limits and rates of change.",
}

DEBATE = (
    "You take part in a multi-round discussion with other agents. Explain your reasoning thoroughly each round "
    "and solve the math problem."
)
ANSWER_LINE = 'End your reply with a line of the form "The answer is <answer>".'

_SCORES = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)


class Ranking(BaseModel):
    """The LLM ranker's output: solution numbers, best first."""

    ranking: list[int] = Field(description="the numbers of the solutions shown, from best to worst")


@dataclasses.dataclass(frozen=True)
class DyLANConfig:
    roles: tuple[str, ...] = ("Assistant", "Mathematician", "Mathematician", "Assistant")
    layers: int = 4
    top_k: int = 2
    temperature: float = 1.0  # official prompt_lib.TEMPERATURE
    max_tokens: int | None = None
    shuffle: bool = True
    seed: int = 0


@dataclasses.dataclass
class _Node:
    agent: int
    reply: str
    answer: str | None
    weights: dict[int, float]  # predecessor agent -> normalised weight
    importance: float = 0.0


def agent_names(roles: Sequence[str]) -> list[str]:
    """``("Assistant", "Mathematician")`` -> ``["assistant_1", "mathematician_2"]``."""
    return [f"{re.sub(r'[^a-z0-9]', '', role.lower()) or 'agent'}_{i + 1}" for i, role in enumerate(roles)]


def parse_scores(reply: str, count: int) -> list[float]:
    """The official edge weights: the last ``[[...]]`` list, each score /5
    (above 5 -> 1, non-positive or unreadable -> 0), normalised; a list of the
    wrong length, or all zeros, gives uniform weights."""
    matches = _SCORES.findall(reply)
    raw: list[int] = []
    if matches:
        for part in matches[-1].replace(" ", "").split(","):
            try:
                raw.append(int(part))
            except ValueError:
                raw.append(0)
    if len(raw) != count:
        raw = [0] * count
    weights = [score / 5 if 0 < score <= 5 else (1.0 if score > 5 else 0.0) for score in raw]
    total = sum(weights)
    if total > 0:
        return [w / total for w in weights]
    return [1 / count] * count if count else []


def most_frequent(answers: Sequence[str | None]) -> tuple[str | None, int]:
    """The most frequent non-empty answer and its count; ties go to the first given."""
    best: str | None = None
    best_count = 0
    for answer in answers:
        if answer is None:
            continue
        count = sum(1 for other in answers if other == answer)
        if count > best_count:
            best, best_count = answer, count
    return best, best_count


def consensus_reached(count: int, active: int) -> bool:
    """Strictly more than 2/3 of the active agents agree (official ``> floor(2/3 n)``)."""
    return count > math.floor(2 / 3 * active)


class DyLAN(Method):
    name = "dylan"
    summary = "Layers of agents with LLM ranking, 2/3-consensus early stop and agent importance scores."
    paper = "Liu et al., A Dynamic LLM-Powered Agent Network for Task-Oriented Agent Collaboration, COLM 2024"
    Config = DyLANConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config: DyLANConfig = self.config
        if not config.roles:
            raise ConfigError("dylan: roles must name at least one agent")
        if config.layers < 1 or config.top_k < 1:
            raise ConfigError("dylan: layers and top_k must be at least 1")

    @property
    def agents(self) -> list[str]:
        """The team's agent names, in team order."""
        return agent_names(self.config.roles)

    def _system(self, role: str) -> str:
        description = ROLE_DESCRIPTIONS.get(role, f"You are {role}.")
        return f"{description}\n{DEBATE}"

    def _prompt(self, task: str, shown: Sequence[_Node]) -> str:
        if not shown:
            return f"{task}\n\n{ANSWER_LINE}"
        parts = [f"{task}\n\nHere are solutions to this problem from other agents:"]
        parts += [f"Agent solution {i}: ```{node.reply}```" for i, node in enumerate(shown, 1)]
        parts.append(
            "Treat the other agents' reasoning as advice and think critically: check your own solution and theirs "
            "step by step, keeping in mind that all of them may be wrong, and give your updated answer. "
            f"{ANSWER_LINE} Also rate each of the {len(shown)} solutions above with a score from 1 to 5, "
            "all together in the form [[1, 5, 2, ...]]."
        )
        return "\n\n".join(parts)

    async def _ask(
        self, session: Session, task: str, agent: int, previous: Sequence[_Node], rng: random.Random
    ) -> _Node:
        config: DyLANConfig = self.config
        shown = list(previous)
        if config.shuffle:
            rng.shuffle(shown)
        messages = [Message("system", self._system(config.roles[agent])), Message("user", self._prompt(task, shown))]
        sampling = session.sampling_with(config.temperature, config.max_tokens)
        reply = await session.chat(self.agents[agent], messages, sampling=sampling)
        weights = parse_scores(reply, len(shown)) if shown else []
        return _Node(agent, reply, extract_answer(reply), {n.agent: w for n, w in zip(shown, weights, strict=True)})

    async def _rank(self, session: Session, task: str, previous: Sequence[_Node], rng: random.Random) -> list[int]:
        config: DyLANConfig = self.config
        shown = list(previous)
        if config.shuffle:
            rng.shuffle(shown)
        parts = [f"{task}\n\nHere are solutions to this problem from several agents:"]
        parts += [f"Solution {i}: ```{node.reply}```" for i, node in enumerate(shown, 1)]
        parts.append(
            f"Think step by step about which solutions are correct and best reasoned, then rank all {len(shown)} "
            'solutions from best to worst. Reply with a JSON object {"ranking": [numbers of the solutions, best '
            "first]}."
        )
        ranking = await session.structured("ranker", [Message("user", "\n\n".join(parts))], Ranking)
        order: list[int] = []
        for number in [*ranking.ranking, *range(1, len(shown) + 1)]:
            if 1 <= number <= len(shown) and shown[number - 1].agent not in order:
                order.append(shown[number - 1].agent)
        return order[: config.top_k]

    async def solve(self, task: str, session: Session) -> str:
        config: DyLANConfig = self.config
        rng = random.Random(config.seed)
        names = self.agents
        active = list(range(len(config.roles)))
        layers: list[list[_Node]] = []
        selections: list[list[str]] = []
        final: str | None = None
        consensus = False
        for index in range(config.layers):
            previous = layers[-1] if layers else []
            if index >= 2 and len(active) > config.top_k:
                active = await self._rank(session, task, previous, rng)
                selections.append([names[a] for a in active])
            order = list(active)
            if config.shuffle:
                rng.shuffle(order)
            first = math.floor(2 / 3 * len(active)) + 1
            layer = list(await asyncio.gather(*(self._ask(session, task, a, previous, rng) for a in order[:first])))
            layers.append(layer)
            while True:
                answer, count = most_frequent([node.answer for node in layer])
                if consensus_reached(count, len(active)):
                    final, consensus = answer, True
                    break
                if len(layer) == len(order):
                    break
                layer.append(await self._ask(session, task, order[len(layer)], previous, rng))
            if consensus:
                break
        if not consensus:
            final = most_frequent([node.answer for node in layers[-1]])[0]
        importance = _backward(layers, final, len(names))
        session.details.update(
            {
                "importance": {names[a]: importance[a] for a in range(len(names))},
                "node_importance": [{names[n.agent]: n.importance for n in layer} for layer in layers],
                "layers": [[{"agent": names[n.agent], "answer": n.answer} for n in layer] for layer in layers],
                "selected": selections,
                "consensus": consensus,
                "layers_run": len(layers),
            }
        )
        for node in layers[-1]:
            if node.answer == final and final is not None:
                return node.reply
        return layers[-1][0].reply


def _backward(layers: list[list[_Node]], final: str | None, agents: int) -> list[float]:
    """The official ``backward``: importances from the last layer to the first."""
    last = layers[-1]
    winners = [node for node in last if final is not None and node.answer == final]
    for node in last:
        node.importance = 1 / len(winners) if node in winners else 0.0
    for position in range(len(layers) - 2, -1, -1):
        for node in layers[position]:
            node.importance = sum(
                later.weights.get(node.agent, 0.0) * later.importance for later in layers[position + 1]
            )
    totals = [0.0] * agents
    for layer in layers:
        for node in layer:
            totals[node.agent] += node.importance
    return totals


@dataclasses.dataclass(frozen=True)
class TeamSelection:
    """The result of :func:`select_team`: the kept agents (best first), their
    roles in team order (ready for ``DyLAN(roles=...)``) and every candidate's
    mean importance."""

    agents: list[str]
    roles: tuple[str, ...]
    mean_importance: dict[str, float]


async def select_team(
    method_factory: Callable[[], DyLAN],
    validation_tasks: Sequence[str],
    k: int,
) -> TeamSelection:
    """DyLAN's agent team optimization: run the full candidate team on each
    validation task (one after another), average each agent's importance over
    the tasks, and keep the ``k`` highest (ties: team order)."""
    if not validation_tasks:
        raise ConfigError("select_team needs at least one validation task")
    method = method_factory()
    names = method.agents
    if not 1 <= k <= len(names):
        raise ConfigError(f"select_team: k must be between 1 and {len(names)}, got {k}")
    sums = dict.fromkeys(names, 0.0)
    for task in validation_tasks:
        result = await method.run(task)
        scores = result.details.get("importance", {})
        assert isinstance(scores, dict)
        for name in names:
            sums[name] += float(scores.get(name, 0.0))
    means = {name: sums[name] / len(validation_tasks) for name in names}
    ranked = sorted(range(len(names)), key=lambda i: (-means[names[i]], i))[:k]
    roles = tuple(method.config.roles[i] for i in sorted(ranked))
    return TeamSelection([names[i] for i in ranked], roles, means)
