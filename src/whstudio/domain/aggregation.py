"""Aggregation maths, pure and vectorised: majority, weighted majority, Dawid–Skene, the ranking
winner (Copeland) and the transcription medoid. No database here; callers load and store."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

PAIRWISE_LABELS = ("A", "B", "tie")
TIE = 2


@dataclass(frozen=True)
class Labels:
    """Answers as parallel arrays: task index, worker index, label index (into `classes`)."""

    task: np.ndarray
    worker: np.ndarray
    label: np.ndarray
    n_tasks: int
    n_workers: int
    n_classes: int = 3

    def indicator(self, label: int) -> sparse.csr_matrix:
        """Return the (tasks x workers) 0/1 matrix of who gave `label` where."""
        mask = self.label == label
        ones = np.ones(int(mask.sum()), dtype=np.float64)
        return sparse.csr_matrix(
            (ones, (self.task[mask], self.worker[mask])), shape=(self.n_tasks, self.n_workers)
        )


@dataclass(frozen=True)
class Result:
    """Per task: the winning label index (-1 when none) and the winner's share or posterior."""

    winner: np.ndarray
    confidence: np.ndarray
    iterations: int = 0


def _vote_matrix(labels: Labels, weights: np.ndarray | None = None) -> np.ndarray:
    """Return (tasks x classes) vote totals, each answer counting its worker's weight."""
    k = labels.n_classes
    w = None if weights is None else weights[labels.worker]
    # bincount adds in input order, as np.add.at does, several times faster.
    votes = np.bincount(labels.task * k + labels.label, weights=w, minlength=labels.n_tasks * k)
    return votes.astype(np.float64, copy=False).reshape(labels.n_tasks, k)


def _row_reduce(op: np.ufunc, matrix: np.ndarray) -> np.ndarray:
    """op over each row, folding the columns left to right."""
    out = matrix[:, 0].copy()
    for column in range(1, matrix.shape[1]):
        op(out, matrix[:, column], out=out)
    return out


def _winners(scores: np.ndarray) -> Result:
    """Winner = the unique top class that is not a tie; its share of the row is the confidence."""
    totals = _row_reduce(np.add, scores)
    top = _row_reduce(np.maximum, scores)
    leaders = np.zeros(len(scores), dtype=np.int64)
    best = np.zeros(len(scores), dtype=np.int64)
    for column in reversed(range(scores.shape[1])):  # argmax: the first column at the top
        at_top = scores[:, column] == top
        leaders += at_top
        best[at_top] = column
    winner = np.where((leaders == 1) & (top > 0) & (best != TIE), best, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(totals > 0, top / totals, 0.0)
    return Result(winner=winner, confidence=confidence)


def majority(labels: Labels) -> Result:
    """Plain majority vote per task; a tied top or a 'tie' plurality has no winner."""
    return _winners(_vote_matrix(labels))


def weighted_majority(labels: Labels, worker_weights: np.ndarray) -> Result:
    """Majority vote with each answer weighted by its worker's weight.

    Weights count to six decimals (as users.reputation_weight keeps them) and are summed as
    whole millionths, which floating point adds exactly in any order: the same answers in
    another order give the same totals, so the same winners and the same ties."""
    return _winners(_vote_matrix(labels, np.round(np.asarray(worker_weights) * 1e6)))


@dataclass(frozen=True)
class DawidSkeneFit:
    result: Result
    posteriors: np.ndarray  # tasks x classes
    priors: np.ndarray  # classes
    confusion: np.ndarray  # workers x true class x given label
    # The objective after each iteration, per answer: the log-likelihood of the answers, plus
    # the log density of the confusion matrices' Dirichlet prior when smoothing. EM never
    # lowers it; the tests check that it does not.
    objective: tuple[float, ...] = ()


def dawid_skene(
    labels: Labels,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
    prior_count: float = 1.0,
) -> DawidSkeneFit:
    """Fit Dawid–Skene by EM, vectorised with sparse matrices (one product per class and step).

    The classes are `labels.n_classes`: the caller passes the classes the questions allow (A/B
    without ties is two; a tie class nobody can choose would only collect pseudo-counts).
    Starts from the majority-vote posteriors and stops once the objective (see DawidSkeneFit)
    gains less than `tol` per answer. Smoothing: `prior_count` adds that many pseudo-answers to
    every cell of each annotator's confusion matrix (a symmetric Dirichlet prior with
    concentration 1 + prior_count, so the fit is its maximum a posteriori): with 1.0 an
    annotator seen on few tasks stays near uniform instead of being trusted on three answers.
    `prior_count=0` is the plain maximum-likelihood fit, crowd-kit's model, with counts floored
    at a tiny epsilon; the tests compare the two.
    """
    k = labels.n_classes
    eps = 1e-10
    indicators = [labels.indicator(c) for c in range(k)]
    votes = _vote_matrix(labels)
    totals = votes.sum(axis=1, keepdims=True)
    posteriors = np.divide(votes, totals, out=np.full_like(votes, 1.0 / k), where=totals > 0)
    answered = totals[:, 0] > 0
    n_answers = max(1, len(labels.task))

    everyone = bool(answered.all())  # as in a batch run: no copy of the answered rows needed

    def m_step(post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not answered.any():
            prior = np.full(k, 1.0 / k)
        else:
            prior = (post if everyone else post[answered]).mean(axis=0)
        counts = np.empty((labels.n_workers, k, k))
        for given in range(k):
            counts[:, :, given] = indicators[given].T @ post
        conf = counts + prior_count if prior_count > 0 else np.clip(counts, eps, None)
        conf /= conf.sum(axis=2, keepdims=True)
        return np.clip(prior, eps, None), conf

    def e_step(prior: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, float]:
        """Posteriors under the parameters, and the objective the parameters reach."""
        log_conf = np.log(conf)
        log_post = np.tile(np.log(prior), (labels.n_tasks, 1))
        for given in range(k):
            log_post += indicators[given] @ log_conf[:, :, given]
        # Row maxima and sums column by column: the same values as max/sum(axis=1), which
        # NumPy computes slowly over rows of three.
        top = _row_reduce(np.maximum, log_post)
        post = np.exp(log_post - top[:, None])
        total = _row_reduce(np.add, post)
        # log p(a task's answers) = log sum_k prior_k prod conf: the row's log-sum-exp
        likelihood = float((top + np.log(total))[answered].sum())
        if prior_count > 0:
            likelihood += prior_count * float(log_conf.sum())
        return post / total[:, None], likelihood / n_answers

    priors, confusion = m_step(posteriors)
    trace: list[float] = []
    iterations = 0
    for step in range(1, max_iter + 1):
        iterations = step
        posteriors, objective = e_step(priors, confusion)
        trace.append(objective)
        if len(trace) > 1 and trace[-1] - trace[-2] < tol:
            break
        priors, confusion = m_step(posteriors)
    posteriors[~answered] = 0.0
    found = _winners(posteriors)
    return DawidSkeneFit(
        result=Result(found.winner, found.confidence, iterations),
        posteriors=posteriors,
        priors=priors,
        confusion=confusion,
        objective=tuple(trace),
    )


class DawidSkeneStreamed:
    """Dawid–Skene by EM over answers that do not fit in memory: the same model, start, prior,
    objective and stopping rule as `dawid_skene`, with the answers read one chunk at a time.

    A chunk holds whole tasks (every answer of each of its tasks), so a task's posterior is
    computed from its chunk alone and never kept: each pass over the chunks takes the E-step
    under the current parameters and sums what the next M-step needs (the class priors' totals
    and each annotator's confusion counts), so memory is one chunk plus the annotators'
    matrices however many answers there are. `fit` runs passes until the objective gains less
    than `tol` per answer; `result` then gives a chunk's winners under the fitted parameters
    (one more pass, the results written as they come). Sums run chunk by chunk in the order
    given, so the same chunks give the same fit to the last bit; against the in-memory fit the
    sums only associate differently (equal to rounding)."""

    def __init__(self, n_workers: int, n_classes: int, *, prior_count: float = 1.0) -> None:
        self.n_workers = n_workers
        self.k = n_classes
        self.prior_count = prior_count
        self.priors = np.full(n_classes, 1.0 / n_classes)
        self.confusion = np.full((n_workers, n_classes, n_classes), 1.0 / n_classes)
        self.objective: list[float] = []
        self.iterations = 0

    def _posteriors(self, chunk: Labels) -> tuple[np.ndarray, float]:
        """The chunk's posteriors under the current parameters, and the log-likelihood of its
        answers (the E-step of `dawid_skene`, gathered per answer instead of by sparse
        products)."""
        k = self.k
        log_conf = np.log(self.confusion)
        log_post = np.tile(np.log(self.priors), (chunk.n_tasks, 1))
        for true in range(k):
            given = log_conf[chunk.worker, true, chunk.label]
            log_post[:, true] += np.bincount(chunk.task, weights=given, minlength=chunk.n_tasks)
        top = _row_reduce(np.maximum, log_post)
        post = np.exp(log_post - top[:, None])
        total = _row_reduce(np.add, post)
        return post / total[:, None], float((top + np.log(total)).sum())

    def _start(self, chunk: Labels) -> np.ndarray:
        votes = _vote_matrix(chunk)
        return votes / votes.sum(axis=1, keepdims=True)

    def _pass(self, chunks: Callable[[], Iterable[Labels]], estep: bool) -> float:
        """One pass: posteriors per chunk (the majority shares on the first, `estep` False),
        summed into the next parameters; returns the objective of the parameters it started
        from (the log-likelihood summed over the chunks)."""
        k, eps = self.k, 1e-10
        counts = np.zeros(self.n_workers * k * k)
        prior_total = np.zeros(k)
        tasks = answers = 0
        likelihood = 0.0
        for chunk in chunks():
            if estep:
                post, ll = self._posteriors(chunk)
                likelihood += ll
            else:
                post = self._start(chunk)
            prior_total += post.sum(axis=0)
            tasks += chunk.n_tasks
            answers += len(chunk.task)
            cell = (chunk.worker * k) * k + chunk.label  # worker, true 0, given
            for true in range(k):
                counts += np.bincount(
                    cell + true * k, weights=post[chunk.task, true], minlength=len(counts)
                )
        conf = counts.reshape(self.n_workers, k, k)
        conf = conf + self.prior_count if self.prior_count > 0 else np.clip(conf, eps, None)
        log_conf = np.log(self.confusion)  # the parameters the pass started from
        if self.prior_count > 0:
            likelihood += self.prior_count * float(log_conf.sum())
        self.confusion = conf / conf.sum(axis=2, keepdims=True)
        self.priors = np.clip(prior_total / tasks if tasks else np.full(k, 1.0 / k), eps, None)
        return likelihood / max(1, answers)

    def fit(
        self,
        chunks: Callable[[], Iterable[Labels]],
        *,
        max_iter: int = 100,
        tol: float = 1e-5,
        stop: Callable[[], None] | None = None,
    ) -> None:
        """Fit the parameters: one start pass, then EM passes until the objective gains less
        than `tol` per answer. `chunks()` gives the chunks again for each pass; `stop`, when
        given, is called between passes (it raises to abandon the fit)."""
        self._pass(chunks, estep=False)
        previous = (self.priors, self.confusion)
        for step in range(1, max_iter + 1):
            if stop is not None:
                stop()
            self.iterations = step
            previous = (self.priors, self.confusion)
            self.objective.append(self._pass(chunks, estep=True))
            if len(self.objective) > 1 and self.objective[-1] - self.objective[-2] < tol:
                break
        # The pass that measured the last objective also moved the parameters one step on;
        # the fit is the parameters that objective belongs to, as in `dawid_skene`.
        self.priors, self.confusion = previous

    def result(self, chunk: Labels) -> tuple[Result, np.ndarray]:
        """The chunk's winners under the fitted parameters, and its posteriors."""
        post, _ = self._posteriors(chunk)
        return _winners(post), post


def copeland(rankings: list[list[int]], n: int) -> list[int] | None:
    """Return the Copeland order (Borda breaks ties), or None when the top two cannot be told
    apart. The database computes the same from its pairwise counts; this is the reference."""
    wins = np.zeros((n, n), dtype=int)
    for ranking in rankings:
        for a, hi in enumerate(ranking):
            for lo in ranking[a + 1 :]:
                wins[hi, lo] += 1
    if not rankings:
        return None
    scores = np.sign(wins - wins.T).sum(axis=1)
    borda = wins.sum(axis=1)
    order = sorted(range(n), key=lambda i: (-scores[i], -borda[i], i))
    first, second = order[0], order[1]
    if scores[first] == scores[second] and borda[first] == borda[second]:
        return None
    return order


def transcription_consensus(transcripts: list[str]) -> tuple[int, float] | None:
    """Return (index of the medoid transcript, agreement %) for a task's transcripts.

    The medoid has the least summed word error rate to the others; agreement is 100 x (1 - its
    mean WER to the others), floored at 0. One transcript alone agrees with itself.
    """
    import jiwer

    texts = [" ".join(t.lower().split()) for t in transcripts]
    if not texts:
        return None
    if len(texts) == 1:
        return 0, 100.0
    n = len(texts)
    wer = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            if not texts[i]:
                wer[i, j] = 0.0 if not texts[j] else 1.0
            else:
                wer[i, j] = jiwer.wer(texts[i], texts[j]) if texts[j] else 1.0
    symmetric = (wer + wer.T) / 2
    sums = symmetric.sum(axis=1)
    medoid = int(np.argmin(sums))
    mean = sums[medoid] / (n - 1)
    return medoid, round(max(0.0, 1.0 - mean) * 100, 2)
