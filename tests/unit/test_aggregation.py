"""Aggregation maths against known answers and against crowd-kit, the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from whstudio.domain import aggregation
from whstudio.domain.batch import parse_copy


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
def test_dawid_skene_matches_crowd_kit_labels_and_accuracy(seed):
    from crowdkit.aggregation import DawidSkene

    data, truth, _ = simulate(seed=seed)
    ours = aggregation.dawid_skene(data, prior_count=0)  # crowd-kit's model
    frame = pd.DataFrame({"task": data.task, "worker": data.worker, "label": data.label})
    theirs = DawidSkene(n_iter=100).fit(frame)
    their_labels = theirs.labels_.reindex(range(data.n_tasks)).to_numpy()
    # crowd-kit may name 'tie' the winner; we never do: compare where it names A or B.
    decided = their_labels != 2
    assert np.mean(ours.result.winner[decided] == their_labels[decided]) >= 0.99
    assert ours.result.iterations == len(theirs.loss_history_)
    their_accuracy = np.mean(np.where(decided, their_labels, -1) == truth)
    assert abs(np.mean(ours.result.winner == truth) - their_accuracy) <= 0.005


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


def test_binary_copy_rows_parse():
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    row = (
        b"\x00\x03"
        + b"\x00\x00\x00\x10"
        + b"\x01" * 16
        + b"\x00\x00\x00\x10"
        + b"\x02" * 16
        + b"\x00\x00\x00\x02"
        + b"\x00\x01"
    )
    rows = parse_copy(header + row + row + b"\xff\xff")
    assert len(rows) == 2 and rows["label"].tolist() == [1, 1]
    with pytest.raises(ValueError):
        parse_copy(header + row[:-1] + b"\xff\xff")


def test_dense_ids_map_uuids_to_indexes_even_when_their_first_halves_collide():
    import uuid

    from whstudio.domain.batch import dense_ids

    ids = [uuid.uuid4().bytes for _ in range(50)]
    twin = ids[0][:8] + bytes(8)  # same first 8 bytes as ids[0], different second half
    values = np.array([*ids, *ids[:10], twin], dtype="V16")
    for distinct, index in (dense_ids(values[:60]), dense_ids(values)):
        assert [bytes(distinct[i]) for i in index] == [bytes(v) for v in values[: len(index)]]
    distinct, _ = dense_ids(values)
    assert len(distinct) == 51
