"""Benchmark datasets: the shipped ones by name, a user's JSONL with a field mapping, seeded subsets.

    from agorakit.eval.datasets import DATASETS, load_dataset, select

    samples = select(load_dataset("gsm8k"), limit=50, seed=0)

The data files (with their licenses and provenance) are under ``data/``;
see docs/eval.md for the table of datasets.
"""

from agorakit.eval.datasets.loader import load_dataset, select
from agorakit.eval.datasets.registry import DATASETS, DatasetInfo

__all__ = ["DATASETS", "DatasetInfo", "load_dataset", "select"]
