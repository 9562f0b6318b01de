"""AgentDojo (Debenedetti et al., 2024) through agorakit's dispatcher and policies.

Needs the ``security`` extra (``pip install 'agorakit[security]'``). The
``agentdojo`` package is imported only when a suite is loaded, so importing
this module is cheap.

- :func:`suite_tools` wraps a suite's functions as agorakit tools acting on a
  live AgentDojo environment.
- :func:`replay_pairs` replays AgentDojo's pairing protocol: every user task
  with every injection task's attack placed in its environment, the hijacked
  agent's calls made once the injection is read; judged by AgentDojo itself,
  with each suite's policy and without. ``agora security agentdojo`` prints it.
- :func:`replay_benchmark` replays every user and injection task's ground
  truth on its own (``agora security agentdojo --mode tasks``).
"""

from agorakit.eval.agentdojo.attack import ATTACK_MARKER, ATTACK_NAME, SuiteAttack, attack_template
from agorakit.eval.agentdojo.pair_results import BenchmarkPairs, PairReplay, SuitePairs
from agorakit.eval.agentdojo.pairs import PairRunner, replay_pairs, replay_pairs_sync, replay_suite_pairs
from agorakit.eval.agentdojo.policies import SUITES, load_suite_policy, policy_text
from agorakit.eval.agentdojo.replay import (
    SuiteRunner,
    agentdojo_version,
    benchmark_versions,
    newest_benchmark_version,
    replay_benchmark,
    replay_benchmark_sync,
    replay_suite,
)
from agorakit.eval.agentdojo.results import BenchmarkReplay, DeniedCall, Ratio, SuiteReplay, TaskReplay
from agorakit.eval.agentdojo.runs import ReplayRun
from agorakit.eval.agentdojo.tools import LiveEnvironment, function_tool, suite_tools

__all__ = [
    "ATTACK_MARKER",
    "ATTACK_NAME",
    "SUITES",
    "BenchmarkPairs",
    "BenchmarkReplay",
    "DeniedCall",
    "LiveEnvironment",
    "PairReplay",
    "PairRunner",
    "Ratio",
    "ReplayRun",
    "SuiteAttack",
    "SuitePairs",
    "SuiteReplay",
    "SuiteRunner",
    "TaskReplay",
    "agentdojo_version",
    "attack_template",
    "benchmark_versions",
    "function_tool",
    "load_suite_policy",
    "newest_benchmark_version",
    "policy_text",
    "replay_benchmark",
    "replay_benchmark_sync",
    "replay_pairs",
    "replay_pairs_sync",
    "replay_suite",
    "replay_suite_pairs",
    "suite_tools",
]
