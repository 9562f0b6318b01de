"""Swarm (OpenAI, "Orchestrating Agents: Routines and Handoffs", 2024; openai/swarm).

Algorithm: agents are routines (instructions plus tools) sharing one message
history. Only the *active* agent runs: it is called with its own
instructions as the system message followed by the whole history, and its
tool calls run; a handoff is a tool (``transfer_to_<agent>``) whose call
makes another agent the active one (when one reply hands off more than once,
the last handoff wins). The run ends when the active agent replies without
a tool call; that reply is the answer.

Here a triage agent receives the task and transfers it; a solver works it
out; a checker verifies it. Every agent may hand off to every other one.

Where agorakit differs, on purpose:

- Swarm bounds only the number of turns (unbounded by default); agorakit
  also bounds handoffs (``max_handoffs``): once spent, handoff tools are no
  longer offered and the active agent must answer, so two agents cannot
  pass the task back and forth forever. ``max_turns`` counts model calls.
- Handoff tools are ordinary agorakit tools, so they pass the policy check
  and are traced like any other call.
- If the turns run out without a reply, the answer is the last text any
  agent wrote (Swarm would return the history without one).
"""

from __future__ import annotations

from dataclasses import dataclass

from agorakit.agents.agent import Agent
from agorakit.agents.handoffs import Handoff
from agorakit.methods.base import Method
from agorakit.methods.session import Session
from agorakit.methods.topology import HandoffResult, HandoffTeam

ROLES: dict[str, str] = {
    "triage": (
        "You receive new problems and route them. Do not solve the problem yourself: "
        "transfer it to the agent best suited for it."
    ),
    "solver": (
        'You solve problems step by step. Finish with a line "The answer is <answer>". '
        "If you want your work double-checked first, transfer to the checker."
    ),
    "checker": (
        "You verify the latest proposed solution by redoing the key steps. If it is right, "
        'reply with the final answer as "The answer is <answer>". If it is wrong, transfer back to the solver.'
    ),
}

HANDOFF_DESCRIPTIONS: dict[str, str] = {
    "triage": "Send the conversation back to triage for re-routing.",
    "solver": "Hand the problem to the solver, who works it out step by step.",
    "checker": "Hand the latest solution to the checker for verification.",
}


@dataclass(frozen=True)
class SwarmConfig:
    agents: tuple[str, ...] = ("triage", "solver", "checker")
    start: str = "triage"
    max_handoffs: int = 5
    max_turns: int = 12


class Swarm(Method):
    name = "swarm"
    summary = "OpenAI Swarm: agents pass control with handoff tools until one answers without a handoff."
    paper = "OpenAI, Orchestrating Agents: Routines and Handoffs (openai/swarm), 2024"
    Config = SwarmConfig
    config: SwarmConfig

    async def solve(self, task: str, session: Session) -> str:
        config = self.config
        agents = [
            Agent(
                name,
                session.model_for(name),
                instructions=ROLES.get(name, f"You are the team's {name}."),
                handoffs=[
                    Handoff(other, HANDOFF_DESCRIPTIONS.get(other, f"Hand the conversation to {other}."))
                    for other in config.agents
                    if other != name
                ],
                kernel=session.kernel,
                sampling=session.sampling,
            )
            for name in config.agents
        ]
        team = HandoffTeam(
            agents,
            start=config.start,
            max_handoffs=config.max_handoffs,
            max_turns=config.max_turns,
            name="swarm",
        )
        result = await team.run(task, context=session)
        assert isinstance(result, HandoffResult)
        if result.output is not None:
            return result.output
        written = [m.content for m in result.messages if m.role == "assistant" and m.content]
        return written[-1] if written else ""
