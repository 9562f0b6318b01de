"""Dialog quality of a transcript, without a model: CORE's components and Zipf and Heaps exponents.

After Pandey et al., "CORE: Measuring Multi-Agent LLM Interaction Quality
under Game-Theoretic Pressures" (2025; github.com/psyonp/core). For turns
t_1..t_N (the transcript's steps) with embeddings e_1..e_N:

* cluster entropy H = -sum_c p_c ln p_c over a k-means clustering of the
  embeddings: how many different kinds of turn. The paper clusters long
  dialogs with a fixed k; a method run has a handful of turns, where a fixed
  k >= N would give every turn its own cluster (H = ln N always), so by
  default k = min(5, ceil(sqrt(N))), and never more than the distinct turns.
* lexical repetition R = the share of n-gram occurrences in turns 2..N that
  already occurred earlier in the dialog: 0 when every turn is new, 1 when
  every turn repeats what was said.
* semantic similarity S = mean cosine of consecutive turns' embeddings.
* CORE = H * (1 - R)^alpha * (1 - S)^beta: diverse, non-repetitive,
  progressing dialog scores high.
* Zipf exponent: s in f(r) ~ r^-s, the negated least-squares slope of
  log frequency on log rank over the dialog's words.
* Heaps exponent: beta in V(n) = K n^beta, the least-squares slope of log
  vocabulary size on log token count over every prefix of the dialog.

The paper embeds turns with a sentence-embedding model; none can be fetched
here, so the default embedder is TF-IDF over the dialog's own turns (any
``Embedder`` can be passed instead). TF-IDF sees shared words, not shared
meaning: paraphrases score as dissimilar. Tokens are lower-cased ``\\w+`` runs.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agorakit.eval.analysis.transcript import Transcript

Embedder = Callable[[list[str]], list[list[float]]]
Vector = list[float]

_WORD = re.compile(r"\w+")
DEFAULT_CLUSTERS = 5
DEFAULT_NGRAM = 3


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _WORD.findall(text.lower())


def tfidf_embedder(texts: list[str]) -> list[list[float]]:
    """TF-IDF vectors of ``texts`` over their own vocabulary: raw counts times the smoothed
    idf ``ln((1 + N) / (1 + df)) + 1``, so a word in every turn still counts."""
    documents = [Counter(tokenize(text)) for text in texts]
    vocabulary = sorted(set().union(*documents)) if documents else []
    frequency = Counter(word for document in documents for word in document)
    idf = {word: math.log((1 + len(texts)) / (1 + frequency[word])) + 1.0 for word in vocabulary}
    return [[document[word] * idf[word] for word in vocabulary] for document in documents]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; 0.0 when either vector is zero."""
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


def _embed(texts: Sequence[str], embedder: Embedder | None) -> list[Vector]:
    return [list(vector) for vector in (embedder or tfidf_embedder)(list(texts))]


def semantic_similarity(texts: Sequence[str], embedder: Embedder | None = None) -> float:
    """Mean cosine similarity of consecutive turns (0.0 with fewer than two turns)."""
    return _consecutive_similarity(_embed(texts, embedder))


def _consecutive_similarity(vectors: Sequence[Vector]) -> float:
    if len(vectors) < 2:
        return 0.0
    return sum(cosine(a, b) for a, b in itertools.pairwise(vectors)) / (len(vectors) - 1)


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def lexical_repetition(texts: Sequence[str], n: int = DEFAULT_NGRAM) -> float:
    """Share of the n-gram occurrences in turns after the first that occurred earlier in the dialog.

    0.0 when no later turn has an n-gram (all turns shorter than ``n`` words, or one turn).
    """
    seen: set[tuple[str, ...]] = set()
    repeated = total = 0
    for position, text in enumerate(texts):
        for gram in _ngrams(tokenize(text), n):
            if position > 0:
                total += 1
                repeated += gram in seen
            seen.add(gram)
    return repeated / total if total else 0.0


def cluster_entropy(texts: Sequence[str], k: int | None = None, embedder: Embedder | None = None) -> float:
    """Shannon entropy (nats) of the sizes of a k-means clustering of the turns' embeddings.

    ``k`` defaults to ``min(5, ceil(sqrt(N)))`` for N turns; it never exceeds the distinct turns.
    """
    return _entropy_of_clusters(_embed(texts, embedder), k)


def _normalized(vector: Vector) -> Vector:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)


def _distance(a: Vector, b: Vector) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True))


def kmeans(vectors: Sequence[Vector], k: int, iterations: int = 100) -> list[int]:
    """Deterministic k-means: farthest-first initial centres, Lloyd steps until assignments settle.

    Ties go to the lower index, so the same input always gives the same clusters.
    """
    points = [list(vector) for vector in vectors]
    if not points or k <= 1:
        return [0] * len(points)
    centres = [points[0]]
    while len(centres) < k:
        gaps = [min(_distance(point, centre) for centre in centres) for point in points]
        farthest = max(range(len(points)), key=lambda i: (gaps[i], -i))
        if gaps[farthest] == 0.0:
            break
        centres.append(points[farthest])
    labels: list[int] = []
    for _ in range(iterations):
        new = [min(range(len(centres)), key=lambda c: (_distance(point, centres[c]), c)) for point in points]
        if new == labels:
            break
        labels = new
        for c in range(len(centres)):
            members = [point for point, label in zip(points, labels, strict=True) if label == c]
            if members:
                centres[c] = [sum(column) / len(members) for column in zip(*members, strict=True)]
    return labels


def default_clusters(turns: int) -> int:
    """``min(5, ceil(sqrt(turns)))``: a few clusters for a short dialog."""
    return min(DEFAULT_CLUSTERS, math.ceil(math.sqrt(turns)))


def _entropy_of_clusters(vectors: Sequence[Vector], k: int | None) -> float:
    points = [_normalized(vector) for vector in vectors]
    distinct = len({tuple(point) for point in points})
    labels = kmeans(points, min(default_clusters(len(points)) if k is None else k, distinct))
    total = len(labels)
    return -sum((count / total) * math.log(count / total) for count in Counter(labels).values()) if total else 0.0


def core_score(entropy: float, repetition: float, similarity: float, alpha: float = 1.0, beta: float = 1.0) -> float:
    """CORE = H * (1 - R)^alpha * (1 - S)^beta (each factor floored at 0)."""
    return float(entropy * max(0.0, 1.0 - repetition) ** alpha * max(0.0, 1.0 - similarity) ** beta)


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0.0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def zipf_exponent(texts: Sequence[str]) -> float:
    """Zipf's s: minus the least-squares slope of ln frequency on ln rank (0.0 with under two distinct words)."""
    frequencies = sorted(Counter(word for text in texts for word in tokenize(text)).values(), reverse=True)
    if len(frequencies) < 2:
        return 0.0
    ranks = [math.log(rank) for rank in range(1, len(frequencies) + 1)]
    return -_slope(ranks, [math.log(f) for f in frequencies])


def heaps_exponent(texts: Sequence[str]) -> float:
    """Heaps' beta: the least-squares slope of ln V(n) on ln n over every prefix (0.0 under two tokens)."""
    tokens = [word for text in texts for word in tokenize(text)]
    if len(tokens) < 2:
        return 0.0
    seen: set[str] = set()
    sizes: list[float] = []
    for word in tokens:
        seen.add(word)
        sizes.append(math.log(len(seen)))
    return _slope([math.log(n) for n in range(1, len(tokens) + 1)], sizes)


@dataclass(frozen=True, slots=True)
class DialogQuality:
    """The CORE components and score, and the Zipf and Heaps exponents, of one dialog."""

    turns: int
    tokens: int
    cluster_entropy: float
    lexical_repetition: float
    semantic_similarity: float
    core: float
    zipf: float
    heaps: float


def dialog_quality(
    dialog: Transcript | Sequence[str],
    *,
    embedder: Embedder | None = None,
    k: int | None = None,
    n: int = DEFAULT_NGRAM,
) -> DialogQuality:
    """Every dialog metric of a transcript's steps (or of a list of turns)."""
    texts = [step.content for step in dialog.steps] if isinstance(dialog, Transcript) else list(dialog)
    vectors = _embed(texts, embedder)
    entropy = _entropy_of_clusters(vectors, k)
    repetition = lexical_repetition(texts, n)
    similarity = _consecutive_similarity(vectors)
    return DialogQuality(
        turns=len(texts),
        tokens=sum(len(tokenize(text)) for text in texts),
        cluster_entropy=entropy,
        lexical_repetition=repetition,
        semantic_similarity=similarity,
        core=core_score(entropy, repetition, similarity),
        zipf=zipf_exponent(texts),
        heaps=heaps_exponent(texts),
    )
