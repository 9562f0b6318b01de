"""Failure analysis of multi-agent runs: who failed and when, MAST failure modes, dialog quality.

* :func:`attribute`: blame an agent and a step with a judge model (all-at-once,
  step-by-step or binary search, after "Which Agent Causes Task Failures and When?").
* :func:`classify`: the MAST failure modes of "Why Do Multi-Agent LLM Systems Fail?".
* :func:`dialog_quality`: CORE's components and Zipf and Heaps exponents, no model needed.
* :func:`score_attribution`: attribution accuracy on the Who&When benchmark.

Names are imported on first use, so importing one submodule stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agorakit.eval.analysis.attribution import METHODS, Attribution, AttributionMethod, attribute
    from agorakit.eval.analysis.dialog import (
        DialogQuality,
        Embedder,
        cluster_entropy,
        core_score,
        dialog_quality,
        heaps_exponent,
        lexical_repetition,
        semantic_similarity,
        tfidf_embedder,
        zipf_exponent,
    )
    from agorakit.eval.analysis.mast import MODES, FailureMode, MastFailure, MastReport, classify
    from agorakit.eval.analysis.transcript import Step, Transcript, load_transcript
    from agorakit.eval.analysis.who_and_when import (
        AttributionScore,
        FailureCase,
        load_who_and_when,
        score_attribution,
    )

_EXPORTS = {
    "METHODS": "attribution",
    "Attribution": "attribution",
    "AttributionMethod": "attribution",
    "attribute": "attribution",
    "DialogQuality": "dialog",
    "Embedder": "dialog",
    "cluster_entropy": "dialog",
    "core_score": "dialog",
    "dialog_quality": "dialog",
    "heaps_exponent": "dialog",
    "lexical_repetition": "dialog",
    "semantic_similarity": "dialog",
    "tfidf_embedder": "dialog",
    "zipf_exponent": "dialog",
    "MODES": "mast",
    "FailureMode": "mast",
    "MastFailure": "mast",
    "MastReport": "mast",
    "classify": "mast",
    "Step": "transcript",
    "Transcript": "transcript",
    "load_transcript": "transcript",
    "AttributionScore": "who_and_when",
    "FailureCase": "who_and_when",
    "load_who_and_when": "who_and_when",
    "score_attribution": "who_and_when",
}

__all__ = [
    "METHODS",
    "MODES",
    "Attribution",
    "AttributionMethod",
    "AttributionScore",
    "DialogQuality",
    "Embedder",
    "FailureCase",
    "FailureMode",
    "MastFailure",
    "MastReport",
    "Step",
    "Transcript",
    "attribute",
    "classify",
    "cluster_entropy",
    "core_score",
    "dialog_quality",
    "heaps_exponent",
    "lexical_repetition",
    "load_transcript",
    "load_who_and_when",
    "score_attribution",
    "semantic_similarity",
    "tfidf_embedder",
    "zipf_exponent",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
