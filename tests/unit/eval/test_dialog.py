"""Dialog quality on small hand-made dialogs whose values are worked out by hand."""

from __future__ import annotations

import math

import pytest

from agorakit.eval.analysis.dialog import (
    cluster_entropy,
    core_score,
    default_clusters,
    dialog_quality,
    heaps_exponent,
    kmeans,
    lexical_repetition,
    semantic_similarity,
    tfidf_embedder,
    tokenize,
    zipf_exponent,
)
from agorakit.eval.analysis.transcript import Transcript

SAME = ["The cat sat on the mat."] * 4
DISJOINT = ["alpha beta gamma", "delta epsilon zeta", "eta theta iota", "kappa lambda mu"]
ALTERNATING = ["red green blue", "one two three", "red green blue", "one two three"]


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope, written out for the tests."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def test_tokens_are_lower_cased_words() -> None:
    assert tokenize("The cat, the MAT!") == ["the", "cat", "the", "mat"]


def test_identical_turns_repeat_fully_and_are_fully_similar() -> None:
    quality = dialog_quality(SAME)
    assert quality.turns == 4 and quality.tokens == 24
    assert quality.lexical_repetition == 1.0
    assert quality.semantic_similarity == pytest.approx(1.0)
    assert quality.cluster_entropy == pytest.approx(0.0)  # one cluster
    assert quality.core == pytest.approx(0.0)


def test_turns_with_no_shared_words() -> None:
    quality = dialog_quality(DISJOINT, k=4)
    assert quality.lexical_repetition == 0.0
    assert quality.semantic_similarity == 0.0  # TF-IDF vectors are orthogonal
    assert quality.cluster_entropy == pytest.approx(math.log(4))  # four clusters of one
    assert quality.core == pytest.approx(math.log(4))
    assert quality.heaps == pytest.approx(1.0)  # every token is new


def test_the_default_number_of_clusters_for_a_short_dialog() -> None:
    assert [default_clusters(n) for n in (1, 2, 4, 5, 9, 10, 100)] == [1, 2, 2, 3, 3, 4, 5]
    # Four orthogonal turns, k = 2: the centres start at turns 0 and 1 (the farthest, lowest index);
    # turns 2 and 3 are as far from both and go to the first: sizes 3 and 1.
    assert cluster_entropy(DISJOINT) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_two_kinds_of_turn_alternating() -> None:
    # Trigrams: turn 2's is new, turns 3 and 4 repeat turns 1 and 2: R = 2/3.
    assert lexical_repetition(ALTERNATING) == pytest.approx(2 / 3)
    assert semantic_similarity(ALTERNATING) == 0.0
    assert cluster_entropy(ALTERNATING) == pytest.approx(math.log(2))  # two clusters of two
    assert cluster_entropy(ALTERNATING, k=1) == pytest.approx(0.0)
    assert dialog_quality(ALTERNATING).core == pytest.approx(math.log(2) * (1 - 2 / 3) * (1 - 0))


def test_lexical_repetition_counts_ngrams_after_the_first_turn() -> None:
    assert lexical_repetition(["a b c", "c d"], n=1) == 0.5  # c seen, d new
    assert lexical_repetition(["a b c", "c d"], n=2) == 0.0  # (c, d) is new
    assert lexical_repetition(["x", "y y"], n=1) == 0.5  # the second y repeats the first
    assert lexical_repetition(["a b", "a b"], n=3) == 0.0  # no trigram at all
    assert lexical_repetition(["a b c"]) == 0.0


def test_semantic_similarity_with_a_custom_embedder() -> None:
    vectors = {"x": [1.0, 0.0], "xy": [1.0, 1.0], "y": [0.0, 1.0]}
    similarity = semantic_similarity(["x", "xy", "y"], embedder=lambda texts: [vectors[t] for t in texts])
    assert similarity == pytest.approx(1 / math.sqrt(2))  # both consecutive pairs are 45 degrees apart
    assert semantic_similarity(["only one turn"]) == 0.0


def test_tfidf_vectors_and_their_cosine() -> None:
    idf_rare = math.log(3 / 2) + 1  # in one of two turns; "a" is in both: ln(3/3) + 1 = 1
    assert tfidf_embedder(["a b", "a c"]) == [[1.0, idf_rare, 0.0], [1.0, 0.0, idf_rare]]
    assert semantic_similarity(["a b", "a c"]) == pytest.approx(1 / (1 + idf_rare**2))


def test_core_score_formula() -> None:
    assert core_score(2.0, 0.5, 0.25) == pytest.approx(2.0 * 0.5 * 0.75)
    assert core_score(2.0, 0.5, 0.25, alpha=2.0) == pytest.approx(2.0 * 0.25 * 0.75)
    assert core_score(1.0, 0.0, 1.5) == 0.0  # a negative factor is floored at 0


def test_zipf_exponent_of_an_exact_power_law() -> None:
    text = " ".join(["a"] * 12 + ["b"] * 6 + ["c"] * 4 + ["d"] * 3)  # f(r) = 12 / r
    assert zipf_exponent([text]) == pytest.approx(1.0)
    # Frequencies 4, 2, 1 at ranks 1, 2, 3: the fitted slope, by hand.
    text = "a a a a b b c"
    expected = -slope([0.0, math.log(2), math.log(3)], [math.log(4), math.log(2), 0.0])
    assert zipf_exponent([text]) == pytest.approx(expected)
    assert zipf_exponent(["same same same"]) == 0.0  # one word: no slope


def test_heaps_exponent() -> None:
    assert heaps_exponent(["one two three four five six seven eight"]) == pytest.approx(1.0)
    assert heaps_exponent(["a a"]) == 0.0  # the vocabulary never grows
    # a b a b: V(n) = 1, 2, 2, 2.
    logs_n = [math.log(n) for n in (1, 2, 3, 4)]
    expected = slope(logs_n, [0.0, math.log(2), math.log(2), math.log(2)])
    assert heaps_exponent(["a b", "a b"]) == pytest.approx(expected)
    assert heaps_exponent(["word"]) == 0.0


def test_kmeans_is_deterministic() -> None:
    points = [[0.0, 0.0], [0.0, 0.1], [10.0, 10.0], [10.0, 10.1]]
    assert kmeans(points, 2) == [0, 0, 1, 1]
    assert kmeans(points, 1) == [0, 0, 0, 0]


def test_dialog_quality_of_a_transcript_uses_its_steps() -> None:
    transcript = Transcript.from_steps("task text is not a turn", [("a", text) for text in ALTERNATING])
    assert dialog_quality(transcript) == dialog_quality(ALTERNATING)
