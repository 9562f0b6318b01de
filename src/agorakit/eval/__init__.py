"""Evaluation: benchmarks, replays and their reports.

Each benchmark lives in its own subpackage and imports its third-party
package only there (``agorakit.eval.agentdojo`` needs the ``security`` extra),
so importing this package costs nothing.
"""
