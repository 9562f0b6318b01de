"""Benchmark reports: markdown and one self-contained HTML page with plots.

matplotlib is imported only when plots are drawn, so importing this package is cheap.
"""

from __future__ import annotations

from agorakit.eval.report.writer import DEFAULT_TITLE, ReportPaths, write_report

__all__ = ["DEFAULT_TITLE", "ReportPaths", "write_report"]
