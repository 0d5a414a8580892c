"""Aggregation maths against known answers and against crowd-kit, the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from whstudio.db.bulk import COPY_HEADER, COPY_TRAILER, unpack_array
from whstudio.db.queries import QUERIES
from whstudio.domain import aggregation, batch


def simulate(n_tasks=400, accuracies=None, per_task=5, seed=7):
    """Workers of known accuracy label tasks whose truth is A or B (ties are a third answer)."""
    rng = np.random.default_rng(seed)
    accuracies = accuracies or [0.55 + 0.02 * i for i in range(20)] + [0.5, 0.5, 0.1, 0.1]
    truth = rng.integers(0, 2, n_tasks)
    tasks, workers, labels = [], [], []
    for t in range(n_tasks):
        for w in rng.choice(len(accuracies), size=per_task, replace=False):
            right = rng.random() < accuracies[w]
            label = truth[t] if right else (1 - truth[t] if rng.random() < 0.8 else 2)
            tasks.append(t)
            workers.append(int(w))
            labels.append(int(label))
    data = aggregation.Labels(
        np.array(tasks), np.array(workers), np.array(labels), n_tasks, len(accuracies)
    )
    return data, truth, np.array(accuracies)


def test_majority_never_picks_a_tied_top_or_the_tie_answer():
    data = aggregation.Labels(
        task=np.array([0, 0, 1, 1, 2, 2, 2, 3]),
        worker=np.array([0, 1, 0, 1, 0, 1, 2, 0]),
        label=np.array([0, 0, 0, 1, 2, 2, 0, 1]),
        n_tasks=5,
        n_workers=3,
    )
    result = aggregation.majority(data)
    assert result.winner.tolist() == [0, -1, -1, 1, -1]
    assert result.confidence[0] == 1.0 and result.confidence[4] == 0.0


def test_weights_can_overturn_a_majority():
    data = aggregation.Labels(np.array([0, 0, 0]), np.array([0, 1, 2]), np.array([0, 0, 1]), 1, 3)
    assert aggregation.majority(data).winner[0] == 0
    assert aggregation.weighted_majority(data, np.array([0.5, 0.5, 3.0])).winner[0] == 1


@pytest.mark.parametrize("seed", [1, 7, 11])
def test_dawid_skene_matches_crowd_kit_step_for_step(seed):
    """The same EM updates as crowd-kit's: after the same number of steps, the same labels and
    posteriors. (Not the same stopping point: crowd-kit stops when its lower bound, which adds
    the class prior once per answer instead of once per task, stops rising, often after three
    steps; ours stops when the likelihood itself does.)"""
    from crowdkit.aggregation import DawidSkene

    data, truth, _ = simulate(seed=seed)
    frame = pd.DataFrame({"task": data.task, "worker": data.worker, "label": data.label})
    for steps in (3, 10, 30):
        ours = aggregation.dawid_skene(data, prior_count=0, max_iter=steps, tol=-np.inf)
        theirs = DawidSkene(n_iter=steps, tol=-np.inf).fit(frame)
        assert ours.result.iterations == len(theirs.loss_history_) == steps
        their_labels = theirs.labels_.reindex(range(data.n_tasks)).to_numpy()
        # crowd-kit may name 'tie' the winner; we never do: compare where it names A or B.
        decided = their_labels != 2
        assert np.mean(ours.result.winner[decided] == their_labels[decided]) >= 0.995
        answered = np.bincount(data.task, minlength=data.n_tasks) > 0
        their_posteriors = theirs.probas_.reindex(
            index=range(data.n_tasks), columns=range(3)
        ).to_numpy()
        assert np.abs(ours.posteriors[answered] - their_posteriors[answered]).max() < 1e-6
    # run to convergence, the smoothed fit is at least as accurate as crowd-kit's own run
    smoothed = aggregation.dawid_skene(data)
    reference = DawidSkene(n_iter=100).fit(frame).labels_.reindex(range(data.n_tasks)).to_numpy()
    assert np.mean(smoothed.result.winner == truth) >= np.mean(reference == truth)


def binary(seed: int, n_tasks: int = 300):
    """Answers A or B only (no tie anywhere), from workers of skewed workloads and accuracy."""
    rng = np.random.default_rng(seed)
    accuracy = np.concatenate([rng.uniform(0.55, 0.95, 25), [0.5, 0.3, 0.5]])
    load = rng.zipf(1.6, len(accuracy)).clip(1, 60)
    truth = rng.choice(2, n_tasks, p=[0.7, 0.3])
    tasks, workers, labels = [], [], []
    for w, (acc, n) in enumerate(zip(accuracy, load, strict=True)):
        for t in rng.choice(n_tasks, size=min(n_tasks, int(n) * 5), replace=False):
            tasks.append(int(t))
            workers.append(w)
            labels.append(int(truth[t] if rng.random() < acc else 1 - truth[t]))
    return (
        aggregation.Labels(
            np.array(tasks), np.array(workers), np.array(labels), n_tasks, len(accuracy), 2
        ),
        truth,
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("prior_count", [0.0, 1.0])
def test_em_never_lowers_the_likelihood_on_answers_without_ties(seed, prior_count):
    data, truth = binary(seed)
    fit = aggregation.dawid_skene(data, prior_count=prior_count, tol=-np.inf, max_iter=60)
    steps = np.diff(fit.objective)
    assert len(steps) == 59 and steps.min() >= -1e-9, steps.min()
    assert fit.confusion.shape[1:] == (2, 2) and fit.posteriors.shape[1] == 2
    majority = aggregation.majority(data).winner
    assert np.mean(fit.result.winner == truth) >= np.mean(majority == truth)


@pytest.mark.parametrize("seed", [1, 7, 11])
def test_the_dirichlet_prior_is_at_least_as_accurate_as_the_reference(seed):
    data, truth, _ = simulate(seed=seed)
    smoothed = aggregation.dawid_skene(data)
    reference = aggregation.dawid_skene(data, prior_count=0)
    majority = aggregation.majority(data)
    assert np.mean(smoothed.result.winner == truth) >= np.mean(reference.result.winner == truth)
    assert np.mean(smoothed.result.winner == truth) > np.mean(majority.winner == truth)


def test_dawid_skene_learns_who_is_reliable():
    data, _, accuracies = simulate(n_tasks=800)
    fit = aggregation.dawid_skene(data)
    # Estimated probability of answering the true class correctly, per worker.
    estimated = (fit.confusion[:, 0, 0] + fit.confusion[:, 1, 1]) / 2
    assert np.corrcoef(estimated, accuracies)[0, 1] > 0.9


def test_copeland_orders_by_pairwise_majorities():
    assert aggregation.copeland([[2, 0, 1], [2, 1, 0], [0, 2, 1]], 3) == [2, 0, 1]
    assert aggregation.copeland([[0, 1], [1, 0]], 2) is None
    assert aggregation.copeland([], 3) is None


def test_transcription_medoid_and_agreement():
    medoid, agreement = aggregation.transcription_consensus(
        ["the cat sat on the mat", "the cat sat on a mat", "a cat sat on the hat"]
    )
    assert medoid == 0 and 50 < agreement < 100
    assert aggregation.transcription_consensus(["Hello  World", "hello world"]) == (0, 100.0)
    assert aggregation.transcription_consensus(["one"]) == (0, 100.0)
    assert aggregation.transcription_consensus([]) is None


def _array(oid: int, size: int, fmt: str, values: list) -> bytes:
    """A one-dimensional array as PostgreSQL's array_send writes it."""
    import struct

    head = struct.pack(">iiiii", 1, 0, oid, len(values), 1)
    return head + b"".join(struct.pack(">i" + fmt, size, v) for v in values)


def test_binary_arrays_unpack_to_numpy():
    assert unpack_array(_array(20, 8, "q", [5, -1, 1 << 40]), ">i8").tolist() == [5, -1, 1 << 40]
    assert unpack_array(_array(23, 4, "i", [3, 0]), ">i4").tolist() == [3, 0]
    assert unpack_array(_array(701, 8, "d", [0.5, 2.0]), ">f8").tolist() == [0.5, 2.0]
    ids = [bytes([i]) * 16 for i in range(3)]
    unpacked = unpack_array(_array(2950, 16, "16s", ids), "V16")
    assert [bytes(v) for v in unpacked] == ids
    assert len(unpack_array(None, ">i8")) == 0  # array_agg over no rows
    assert len(unpack_array(b"\x00" * 12, ">i8")) == 0  # an empty array
    with pytest.raises(ValueError):
        unpack_array(_array(20, 8, "q", [5, 6])[:-1], ">i8")  # truncated
    with pytest.raises(ValueError):
        unpack_array(_array(23, 4, "i", [3, 0]), ">i8")  # wrong element size
    nulls = bytearray(_array(20, 8, "q", [5]))
    nulls[7] = 1
    with pytest.raises(ValueError):
        unpack_array(bytes(nulls), ">i8")


def test_results_copy_payload_layout():
    import struct

    tasks = np.array([7, 1 << 20])
    found = aggregation.Result(np.array([1, -1]), np.array([0.75, np.nan]))
    raw = COPY_HEADER + batch._rows(tasks, found) + COPY_TRAILER  # as batch_in takes it
    assert raw.startswith(b"PGCOPY\n\xff\r\n\x00") and raw.endswith(b"\xff\xff")
    body = raw[19:-2]
    row = struct.Struct(">hiiihid")
    assert len(body) == 2 * row.size
    first, second = row.unpack_from(body, 0), row.unpack_from(body, row.size)
    assert first == (3, 4, 7, 2, 1, 8, 0.75)
    assert second == (3, 4, 1 << 20, 2, -1, 8, 0.0)  # no confidence stored as 0


def test_the_answer_loads_pack_answers_as_the_unpacking_reads_them():
    for name in ("batch.labels", "batch.labels_of", "batch.read_labels_of"):
        assert f"(t.idx::int8 << {batch._WORKER_BITS})" in QUERIES[name]
        assert f"GROUP BY t.idx >> {batch._CHUNK_BITS}" in QUERIES[name]


def test_vote_totals_and_winners_equal_the_plain_numpy_formulation():
    rng = np.random.default_rng(4)
    n = 5_000
    data = aggregation.Labels(
        task=rng.integers(0, 800, n),
        worker=rng.integers(0, 50, n),
        label=rng.integers(0, 3, n),
        n_tasks=900,  # some tasks without answers
        n_workers=50,
    )
    weights = rng.choice([0.25, 0.5, 1.0, 2.0], 50)  # exact sums: ties stay ties
    for w in (None, weights):
        votes = np.zeros((data.n_tasks, 3))
        np.add.at(votes, (data.task, data.label), 1.0 if w is None else w[data.worker])
        assert np.array_equal(aggregation._vote_matrix(data, w), votes)
        found = aggregation._winners(votes)
        top = votes.max(axis=1)
        leaders = (votes == top[:, None]).sum(axis=1)
        best = votes.argmax(axis=1)
        winner = np.where((leaders == 1) & (top > 0) & (best != aggregation.TIE), best, -1)
        assert np.array_equal(found.winner, winner)
        totals = votes.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            assert np.array_equal(found.confidence, np.where(totals > 0, top / totals, 0.0))
        assert (winner == -1).sum() > 100 and (winner >= 0).sum() > 100


def _in_chunks(data: aggregation.Labels, tasks_per_chunk: int):
    """The answers cut into chunks of whole tasks (task indices local to each chunk)."""
    order = np.argsort(data.task, kind="stable")
    task, worker, label = data.task[order], data.worker[order], data.label[order]
    chunks = []
    for lo in range(0, data.n_tasks, tasks_per_chunk):
        hi = min(data.n_tasks, lo + tasks_per_chunk)
        mine = (task >= lo) & (task < hi)
        _, local = np.unique(task[mine], return_inverse=True)
        chunks.append(
            aggregation.Labels(
                local,
                worker[mine],
                label[mine],
                int(local.max()) + 1,
                data.n_workers,
                data.n_classes,
            )
        )
    return lambda: iter(chunks)


@pytest.mark.parametrize("prior_count", [0.0, 1.0])
@pytest.mark.parametrize("tasks_per_chunk", [1, 37, 10_000])
def test_dawid_skene_in_chunks_is_the_in_memory_fit(prior_count, tasks_per_chunk):
    data, _, _ = simulate(seed=5)  # every task answered, ties among the answers
    whole = aggregation.dawid_skene(data, prior_count=prior_count)
    streamed = aggregation.DawidSkeneStreamed(data.n_workers, 3, prior_count=prior_count)
    chunks = _in_chunks(data, tasks_per_chunk)
    streamed.fit(chunks)
    assert streamed.iterations == whole.result.iterations > 2
    np.testing.assert_allclose(streamed.objective, whole.objective, rtol=0, atol=1e-12)
    np.testing.assert_allclose(streamed.priors, whole.priors, rtol=1e-12)
    np.testing.assert_allclose(streamed.confusion, whole.confusion, rtol=1e-10)
    winners = np.concatenate([streamed.result(c)[0].winner for c in chunks()])
    assert np.array_equal(winners, whole.result.winner)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("prior_count", [0.0, 1.0])
def test_em_in_chunks_never_lowers_the_likelihood(seed, prior_count):
    data, _ = binary(seed)
    model = aggregation.DawidSkeneStreamed(data.n_workers, 2, prior_count=prior_count)
    model.fit(_in_chunks(data, 50), tol=-np.inf, max_iter=40)
    steps = np.diff(model.objective)
    assert len(steps) == 39 and steps.min() >= -1e-9, steps.min()


def test_a_spill_keeps_tasks_whole_and_a_task_larger_than_a_chunk_alone():
    # task << 32 | worker << 2 | label; task 3 has 9 answers, more than a chunk of 4
    answers = [(1, 0, 0), (1, 1, 1), (2, 0, 2)] + [(3, w, w % 2) for w in range(9)]
    answers += [(5, 2, 1), (5, 3, 0), (6, 4, 1)]
    packed = np.array([t << 32 | w << 2 | lab for t, w, lab in answers], dtype=np.int64)
    spill = batch.Spill(n_users=12, chunk_answers=4)
    try:
        rng = np.random.default_rng(0)
        spill.add(rng.permutation(packed[:12]))  # the server's values come in any order
        spill.add(rng.permutation(packed[12:]))
        spill.seal()
        chunks = list(spill.chunks())
        assert [list(c.tasks) for c in chunks] == [[1, 2], [3], [5, 6]]
        assert [len(c.labels.task) for c in chunks] == [3, 9, 3]
        assert spill.answers == 15 and spill.tasks == 5 and spill.n_workers == 9
        assert spill.n_classes == 3  # a tie among the answers
        first = chunks[0].labels
        assert list(first.task) == [0, 0, 1] and list(first.label) == [0, 1, 2]
    finally:
        spill.close()
