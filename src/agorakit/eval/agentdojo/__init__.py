"""AgentDojo (Debenedetti et al., 2024) through agorakit's dispatcher and policies.

Needs the ``security`` extra (``pip install 'agorakit[security]'``). The
``agentdojo`` package is imported only when a suite is loaded, so importing
this module is cheap.

- :func:`suite_tools` wraps a suite's functions as agorakit tools acting on a
  live AgentDojo environment.
- :func:`replay_benchmark` replays every user and injection task's ground
  truth with each suite's policy and without, judged by AgentDojo itself;
  ``agora security agentdojo`` prints the result.
"""

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
from agorakit.eval.agentdojo.tools import LiveEnvironment, function_tool, suite_tools

__all__ = [
    "SUITES",
    "BenchmarkReplay",
    "DeniedCall",
    "LiveEnvironment",
    "Ratio",
    "SuiteReplay",
    "SuiteRunner",
    "TaskReplay",
    "agentdojo_version",
    "benchmark_versions",
    "function_tool",
    "load_suite_policy",
    "newest_benchmark_version",
    "policy_text",
    "replay_benchmark",
    "replay_benchmark_sync",
    "replay_suite",
    "suite_tools",
]
