"""Evaluation of word vectors: word analogies and word-pair similarity.

Semantics follow gensim's ``KeyedVectors.evaluate_word_analogies`` and
``evaluate_word_pairs`` (and word2vec.c's compute-accuracy): only the
``restrict_vocab`` most frequent words count, matching is case-insensitive
(the most frequent case variant of a word stands for it), the three question
words are excluded from the answers, and questions or pairs with unknown words
are skipped and counted. Analogies are answered in batches of matrix products.

With subwords (sg_keras.WordVectors.has_subwords), word pairs are scored for every
word with a vector, unseen words from their n-grams; analogies keep gensim's rule
(questions and answers among the ``restrict_vocab`` most frequent words), so that
analogy accuracy means the same with and without subwords.
"""

import csv
import dataclasses
import os
import re

import numpy as np

from sg_keras.errors import UsageError

METHODS = ("3cosadd", "3cosmul")
_BATCH = 512  # questions per matrix product
_COSMUL_EPSILON = 1e-3


@dataclasses.dataclass
class AnalogySection:
    name: str
    correct: int = 0
    seen: int = 0
    total: int = 0

    @property
    def accuracy(self):
        return self.correct / self.seen if self.seen else 0.0

    def as_dict(self):
        return {"accuracy": self.accuracy, "correct": self.correct, "seen": self.seen,
                "total": self.total}


@dataclasses.dataclass
class AnalogyResult:
    """Per-section, semantic, syntactic and overall figures of one analogy file."""

    sections: list

    def _sum(self, name, sections):
        return AnalogySection(name, sum(s.correct for s in sections),
                              sum(s.seen for s in sections), sum(s.total for s in sections))

    @property
    def overall(self):
        return self._sum("overall", self.sections)

    @property
    def semantic(self):
        return self._sum("semantic", [s for s in self.sections if not _is_syntactic(s.name)])

    @property
    def syntactic(self):
        return self._sum("syntactic", [s for s in self.sections if _is_syntactic(s.name)])

    def as_dict(self):
        overall = self.overall
        return {**overall.as_dict(), "coverage": overall.seen / overall.total if overall.total else 0.0,
                "semantic": self.semantic.as_dict(), "syntactic": self.syntactic.as_dict(),
                "sections": {s.name: s.as_dict() for s in self.sections}}


@dataclasses.dataclass
class SimilarityResult:
    spearman: float
    pearson: float
    pairs: int
    oov: int

    def as_dict(self):
        return dataclasses.asdict(self)


def _is_syntactic(section):
    """questions-words.txt names its syntactic sections gram1-… to gram9-…."""
    return section.startswith("gram")


def read_analogies(path):
    """[(section, [(a, b, c, d), …]), …] from questions-words or MSR (``a b c d``) format."""
    sections = []
    with _open_text(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(":"):
                sections.append((line[1:].strip(), []))
                continue
            words = line.split()
            if len(words) != 4:
                raise UsageError(f"{path}:{number}: expected 4 words, found {len(words)}")
            if not sections:
                sections.append((os.path.basename(path), []))
            sections[-1][1].append(tuple(words))
    if not any(questions for _, questions in sections):
        raise UsageError(f"{path}: no analogy questions")
    return sections


_SCORE_HEADER = re.compile(r"simlex|mean|score|sim|human|rating", re.IGNORECASE)


def read_word_pairs(path):
    """[(w1, w2, score), …] from WS-353 CSV, SimLex-999 TSV, MEN, RW or ``w1 w2 score`` files."""
    with _open_text(path) as f:
        lines = [(n, line.strip()) for n, line in enumerate(f, 1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not lines:
        raise UsageError(f"{path}: no word pairs")

    def fields(line):
        if path.endswith(".csv"):
            return next(csv.reader([line]))
        return line.split("\t") if "\t" in line else line.split()

    first = fields(lines[0][1])
    column = 2
    if len(first) >= 3 and not _is_number(first[2]) or len(first) > 3 and not _is_number(first[3]):
        named = [i for i, name in enumerate(first) if i >= 2 and _SCORE_HEADER.search(name)]
        column = named[0] if named else 2
        lines = lines[1:]
    pairs = []
    for number, line in lines:
        row = fields(line)
        if len(row) <= column:
            raise UsageError(f"{path}:{number}: expected at least {column + 1} columns, "
                             f"found {len(row)}")
        if not _is_number(row[column]):
            raise UsageError(f"{path}:{number}: score {row[column]!r} is not a number")
        pairs.append((row[0].strip(), row[1].strip(), float(row[column])))
    if not pairs:
        raise UsageError(f"{path}: no word pairs")
    return pairs


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _open_text(path):
    try:
        return open(path, encoding="utf-8", errors="replace", newline=None)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None


def _restricted(words, restrict_vocab):
    """Case-folded word → id among the first restrict_vocab words (most frequent variant)."""
    limit = min(restrict_vocab or len(words), len(words))
    folded = {}
    for i, word in enumerate(words[:limit]):
        folded.setdefault(word.upper(), i)
    return limit, folded


def analogies(word_vectors, path, restrict_vocab=30000, method="3cosadd"):
    """Accuracy of sg_keras.WordVectors on an analogy file: d ≈ b - a + c (3CosAdd) or 3CosMul."""
    if method not in METHODS:
        raise UsageError(f"unknown analogy method {method!r}: choose {', '.join(METHODS)}")
    words = word_vectors.index_to_key
    limit, folded = _restricted(words, restrict_vocab)
    unit = word_vectors.get_normed_vectors(limit)
    # Words whose case-folded form is the same share one id for exclusion.
    fold_ids = np.array([folded[w.upper()] for w in words[:limit]])
    sections = []
    for name, questions in read_analogies(path):
        section = AnalogySection(name, total=len(questions))
        known = [[folded[w.upper()] for w in q] for q in questions
                 if all(w.upper() in folded for w in q)]
        section.seen = len(known)
        for start in range(0, len(known), _BATCH):
            batch = np.array(known[start:start + _BATCH])
            guesses = _answer(word_vectors, unit, fold_ids, batch[:, :3], method)
            section.correct += int(np.sum(fold_ids[guesses] == batch[:, 3]))
        sections.append(section)
    return AnalogyResult(sections)


def _answer(word_vectors, unit, fold_ids, abc, method):
    """The best answer's row to each question ``abc`` [N, 3] (rows of ``unit``, the first
    rows of ``word_vectors`` of unit length)."""
    a, b, c = (unit[abc[:, i]] for i in range(3))
    limit = len(unit)
    if method == "3cosadd":
        scores = word_vectors.cosine_scores(b - a + c, clip_end=limit)
    else:
        scores = word_vectors.cosmul_scores([b, c], [a], limit, epsilon=_COSMUL_EPSILON)
    rows = np.arange(len(abc))
    for i in range(3):
        scores[rows, abc[:, i]] = -np.inf
    # Other case variants of a question word (e.g. "Paris" beside "paris") are excluded too.
    variants = np.flatnonzero(fold_ids != np.arange(len(fold_ids)))
    if len(variants):
        folds = fold_ids[variants][None, :]
        hits = (folds == abc[:, 0:1]) | (folds == abc[:, 1:2]) | (folds == abc[:, 2:3])
        row_index, column = np.nonzero(hits)
        scores[row_index, variants[column]] = -np.inf
    return np.argmax(scores, axis=1)


def word_pairs(word_vectors, path, restrict_vocab=300000):
    """Spearman and Pearson correlation of sg_keras.WordVectors' cosines with human scores.

    A pair with a word outside the ``restrict_vocab`` most frequent words is skipped
    and counted in ``oov``, as gensim does, unless the vectors have subwords: such a
    word then gets its vector (its row, or its n-grams' mean as written in the file),
    and ``oov`` counts only pairs with a word without n-grams.
    """
    words = word_vectors.index_to_key
    limit, folded = _restricted(words, restrict_vocab)
    pairs = read_word_pairs(path)
    others = {}  # words outside the restricted vocabulary → their vector
    if word_vectors.has_subwords:
        unseen = sorted({word for pair in pairs for word in pair[:2]
                         if word.upper() not in folded})
        composed, found = word_vectors.unseen_vectors(unseen)
        for word, vector, has_ngrams in zip(unseen, composed, found):
            if word_vectors.has_index_for(word):
                others[word] = word_vectors.get_vector(word)
            elif has_ngrams:
                others[word] = vector
    unit = word_vectors.get_normed_vectors(limit)

    def unit_vector(word):
        if word.upper() in folded:
            return unit[folded[word.upper()]]
        vector = others[word]
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    firsts, seconds, human, oov = [], [], [], 0
    for first, second, score in pairs:
        if not all(w.upper() in folded or w in others for w in (first, second)):
            oov += 1
            continue
        firsts.append(unit_vector(first))
        seconds.append(unit_vector(second))
        human.append(score)
    if len(human) < 2:
        return SimilarityResult(float("nan"), float("nan"), len(human), oov)
    model = np.sum(np.array(firsts, np.float64) * np.array(seconds, np.float64), axis=1).tolist()
    import scipy.stats  # here, not at the top: it adds memory and start-up time to `train`
    return SimilarityResult(float(scipy.stats.spearmanr(human, model)[0]),
                            float(scipy.stats.pearsonr(human, model)[0]), len(model), oov)


def evaluate(word_vectors, analogy_files=(), similarity_files=(), restrict_vocab=30000,
             method="3cosadd"):
    """{"analogy": {file: {...}}, "similarity": {file: {...}}} of sg_keras.WordVectors."""
    return {
        "analogy": {path: analogies(word_vectors, path, restrict_vocab, method).as_dict()
                    for path in analogy_files},
        "similarity": {path: word_pairs(word_vectors, path).as_dict()
                       for path in similarity_files},
    }


def format_results(results, method="3cosadd", restrict_vocab=30000):
    """The results of :func:`evaluate` as readable tables."""
    lines = []
    for path, figures in results["analogy"].items():
        lines.append(f"analogies: {path} ({method}, {restrict_vocab} most frequent words)")
        lines.append(f"  {'section':<30} {'correct':>8} {'seen':>7} {'total':>7} {'accuracy':>9}")
        rows = [*figures["sections"].items(), ("semantic", figures["semantic"]),
                ("syntactic", figures["syntactic"]), ("overall", figures)]
        for name, row in rows:
            lines.append(f"  {name:<30} {row['correct']:>8} {row['seen']:>7} {row['total']:>7} "
                         f"{100 * row['accuracy']:>8.2f}%")
        lines.append(f"  coverage: {100 * figures['coverage']:.1f}% of questions seen")
    if results["similarity"]:
        lines.append(f"similarity: {'file':<50} {'spearman':>9} {'pearson':>8} {'pairs':>6} {'oov':>5}")
        for path, row in results["similarity"].items():
            lines.append(f"  {path:<60} {row['spearman']:>9.4f} {row['pearson']:>8.4f} "
                         f"{row['pairs']:>6} {row['oov']:>5}")
    return "\n".join(lines)
