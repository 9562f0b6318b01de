"""The attack of the pairing replay: AgentDojo's own text, placed by AgentDojo's own mechanism.

The injection text is AgentDojo's ``important_instructions`` template (the
attack its paper and leaderboard report), read from the installed package,
signed by the suites' user (``Emma Johnson``) and addressed to AgentDojo's
default model name (``the AI language model``), since no model runs: that is
the benchmark's registered ``important_instructions_no_model_name`` attack.

Which injection vectors a user task gets is AgentDojo's
``BaseAttack.get_injection_candidates``: the placeholders whose canaries show
up in the tool outputs of the task's ground truth. The environment is then
built the way ``TaskSuite.load_and_inject_default_environment`` builds it
(the attack text formatted into the suite's ``environment.yaml`` at those
placeholders, benign defaults elsewhere, validated by the suite's environment
model), parsed with libyaml when PyYAML has it: the same environment, about
five times faster on the workspace suite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from agentdojo.attacks.base_attacks import FixedJailbreakAttack
    from agentdojo.base_tasks import BaseInjectionTask, BaseUserTask
    from agentdojo.functions_runtime import TaskEnvironment
    from agentdojo.task_suite.task_suite import TaskSuite

ATTACK_NAME = "important_instructions_no_model_name"
"""AgentDojo's name for the attack the pairing replay places."""
ATTACK_USER = "Emma Johnson"
"""Who the injected message claims to be from: the suites' user, as in AgentDojo's attack."""
ATTACK_MARKER = "<INFORMATION>"
"""The template's opening tag. A tool output carries the injection when it holds this tag: the
tool-output formatter (YAML) re-wraps and escapes the rest of the text, but never splits a
word, and no suite's benign data holds the tag."""

_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


def attack_template() -> str:
    """AgentDojo's ``important_instructions`` text, with ``{goal}``, ``{user}`` and ``{model}`` to fill."""
    from agentdojo.attacks.important_instructions_attacks import ImportantInstructionsAttack

    # The template is a class attribute of the attack; agentdojo is pinned, so it does not move.
    template: str = ImportantInstructionsAttack._JB_STRING
    return template


class SuiteAttack:
    """The injections of one suite: which vectors each user task reads, and the environment with them filled."""

    def __init__(self, suite: TaskSuite[Any]) -> None:
        from agentdojo.agent_pipeline.ground_truth_pipeline import GroundTruthPipeline
        from agentdojo.attacks.base_attacks import FixedJailbreakAttack

        self.suite = suite
        # The attack only needs a pipeline to name the model; with the default name, none is asked.
        self._attack: FixedJailbreakAttack = FixedJailbreakAttack(attack_template(), suite, GroundTruthPipeline(None))
        self._attack.user_name = ATTACK_USER
        self._defaults = suite.get_injection_vector_defaults()
        self._vectors: dict[str, tuple[str, ...]] = {}

    def vectors(self, user_task: BaseUserTask[Any]) -> tuple[str, ...]:
        """The injection vectors ``user_task``'s ground truth reads (empty: AgentDojo calls it not injectable)."""
        if user_task.ID not in self._vectors:
            try:
                found = self._attack.get_injection_candidates(user_task)
            except ValueError:  # AgentDojo's word for "this task reads no injection vector"
                found = []
            self._vectors[user_task.ID] = tuple(found)
        return self._vectors[user_task.ID]

    def injections(self, user_task: BaseUserTask[Any], injection_task: BaseInjectionTask[Any]) -> dict[str, str]:
        """Vector → attack text asking for ``injection_task``'s goal, for the vectors ``user_task`` reads."""
        if not self.vectors(user_task):
            return {}
        injections: dict[str, str] = self._attack.attack(user_task, injection_task)
        return injections

    def environment(self, injections: dict[str, str]) -> TaskEnvironment:
        """The suite's environment with ``injections`` placed, benign defaults at the other vectors."""
        from agentdojo.task_suite.task_suite import read_suite_file, validate_injections

        validate_injections(injections, self._defaults)
        text = read_suite_file(self.suite.name, "environment.yaml", self.suite.data_path)
        data = yaml.load(text.format(**{**self._defaults, **injections}), Loader=_SAFE_LOADER)
        environment: TaskEnvironment = self.suite.environment_type.model_validate(data)
        return environment


def carries_injection(output: str) -> bool:
    """Whether a tool output shows the agent the injected text."""
    return ATTACK_MARKER in output
