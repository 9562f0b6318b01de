"""CAMEL role-playing (Li et al., "CAMEL: Communicative Agents for 'Mind'
Exploration of Large Language Model Society", NeurIPS 2023; official code
github:camel-ai/camel, ``camel/societies/role_playing.py`` and
``examples/ai_society/role_playing.py``).

Three agents:

1. ``specifier`` (the task-specifier agent) rewrites the task into a more
   specific one in at most ``word_limit`` words (50 in the paper).
2. ``user`` (the AI user) and ``assistant`` (the AI assistant) then role-play
   under inception prompts: the user gives one instruction at a time
   ("Instruction: ... / Input: ..."), the assistant answers each with
   "Solution: ..." ending in "Next request."; neither may flip roles, and the
   user replies only with the done token (``<CAMEL_TASK_DONE>``) once the
   task is solved.
3. Each agent keeps its own conversation: the user's holds its system prompt,
   the opening "start instructing me" message, its own instructions (as its
   turns) and the assistant's solutions (as the other side's); the
   assistant's holds its system prompt, the user's instructions and its own
   solutions. Neither sees the specifier's prompt or the other's system
   prompt.

A turn is one user instruction followed by one assistant solution. The chat
stops as soon as a user message contains the done token, or after
``max_turns`` turns. The answer is the assistant's last solution. Calls: 1
(specifier) + ``2 * (k - 1) + 1`` = ``2k`` when the user says done in turn
``k`` (k > 1), and ``1 + 2 * max_turns`` when it never does.

Deliberate differences:

- The assistant is not called on the user's done message (the official loop
  does call it, and prints its reply, which is a pleasantry such as "Great!");
  that call cannot change the solution, and making it the "last solution"
  would lose the answer. If the user says done before any solution exists
  (turn 1), the assistant is asked once to solve the task so there is an
  answer (one extra call).
- ``max_turns`` defaults to 10 turns (20 messages). The paper stops a chat at
  40 messages and the official example at 50 turns; those budgets produce
  data sets, while a benchmark question needs far fewer. MASLab uses 3.
- The role names default to MASLab's benchmark choice ("PhD Student" user,
  "Postdoc" assistant) rather than the AI-society role lists, which target
  open-ended tasks.
- The role-players see the original task as well as the specified one: a
  specifier asked to "be creative" can drop or change a question's numbers,
  and for benchmark questions the original wording must reach the solver.
- The assistant is asked to state a final result as "The answer is ..." so
  the answer extractor can read it.
"""

from __future__ import annotations

import dataclasses

from agorakit.core.errors import ConfigError
from agorakit.core.messages import Message
from agorakit.methods.base import Method
from agorakit.methods.session import Session

SPECIFIER_SYSTEM = "You turn a task into a more specific one."

SPECIFY = (
    "A {assistant_role} is going to help a {user_role} complete this task:\n{task}\n\n"
    "Make the task more specific. Be creative and imaginative, but keep every given fact. "
    "Reply with only the specified task, in {word_limit} words or fewer."
)

ASSISTANT_SYSTEM = """\
Rules for the assistant.
Remember always that you are a {assistant_role} and I am a {user_role}.
Do not swap roles and do not give me instructions.
We both want this task done, and your job is to help me do it.
The task: {task}
Keep the task in mind throughout.
I will instruct you, one instruction at a time, according to your expertise and what I need.
For each instruction, write a specific solution that does what it asks, and explain it.
If you cannot carry out an instruction (for physical, moral or legal reasons, or because it is beyond you),
say so honestly and explain why.
Unless I say the task is complete, always begin your reply with:

Solution: <YOUR_SOLUTION>

Make <YOUR_SOLUTION> concrete and detailed, with explanations, worked steps and examples where they help.
When your solution reaches the final result of the task, state it as "The answer is <answer>".
Always end <YOUR_SOLUTION> with: Next request."""

USER_SYSTEM = """\
Rules for the user.
Remember always that you are a {user_role} and I am a {assistant_role}. Do not swap roles: you always instruct me.
We both want this task done, and my job is to help you do it.
The task: {task}
Keep the task in mind throughout.
Instruct me, according to my expertise and what you need, in exactly one of two forms:

1. With an input:
Instruction: <YOUR_INSTRUCTION>
Input: <YOUR_INPUT>

2. Without an input:
Instruction: <YOUR_INSTRUCTION>
Input: None

The "Instruction" is a task or question; the "Input" gives context or information for it.
Give me one instruction at a time, and I will write a response that carries it out.
If I cannot carry out an instruction, I will say so honestly and explain why.
Instruct me; do not ask me questions.
Write nothing besides your instruction and its input.
Keep instructing me until you judge the task complete.
Once it is complete, reply with the single word {done_token} and nothing else.
Do not write {done_token} until my responses have actually solved the task."""

START = "Now start giving me instructions, one at a time. Reply only with Instruction and Input."

SOLVE_NOW = "Instruction: Solve the task now and give its final answer.\nInput: None"


@dataclasses.dataclass(frozen=True)
class CamelConfig:
    """``max_turns``: user/assistant exchanges at most; ``word_limit``: the
    specified task's length (the paper's 50); ``specify_task``: run the
    task specifier (the paper does)."""

    max_turns: int = 10
    assistant_role: str = "Postdoc"
    user_role: str = "PhD Student"
    word_limit: int = 50
    specify_task: bool = True
    done_token: str = "<CAMEL_TASK_DONE>"

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ConfigError(f"camel: max_turns must be at least 1, got {self.max_turns}")
        if not self.done_token.strip("<>"):
            raise ConfigError("camel: done_token must not be empty")


class Camel(Method):
    name = "camel"
    summary = "Task specifier, then an AI user instructs an AI assistant turn by turn until it says done."
    paper = (
        "Li et al., CAMEL: Communicative Agents for 'Mind' Exploration of Large Language Model Society, NeurIPS 2023"
    )
    Config = CamelConfig
    config: CamelConfig

    def is_done(self, text: str) -> bool:
        """The done token, with or without its angle brackets (as the official loop checks)."""
        return self.config.done_token.strip("<>") in text

    async def solve(self, task: str, session: Session) -> str:
        cfg = self.config
        roles = {"assistant_role": cfg.assistant_role, "user_role": cfg.user_role}
        full_task = task
        if cfg.specify_task:
            specified = await session.chat(
                "specifier",
                [
                    Message("system", SPECIFIER_SYSTEM),
                    Message("user", SPECIFY.format(task=task, word_limit=cfg.word_limit, **roles)),
                ],
            )
            full_task = f"{task}\nMore specifically: {specified.strip()}"

        user_history = [
            Message("system", USER_SYSTEM.format(task=full_task, done_token=cfg.done_token, **roles)),
            Message("user", START),
        ]
        assistant_history = [Message("system", ASSISTANT_SYSTEM.format(task=full_task, **roles))]
        solution = ""
        for _ in range(cfg.max_turns):
            instruction = await session.chat("user", user_history)
            user_history.append(Message("assistant", instruction))
            if self.is_done(instruction):
                if not solution:
                    assistant_history.append(Message("user", SOLVE_NOW))
                    solution = await session.chat("assistant", assistant_history)
                break
            assistant_history.append(Message("user", instruction))
            solution = await session.chat("assistant", assistant_history)
            assistant_history.append(Message("assistant", solution))
            user_history.append(Message("user", solution))
        return solution
