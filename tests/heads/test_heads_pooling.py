import numpy as np
import pytest
import torch

from heads.pooling import AttentionPooling, fit_attention_pooling, pool
from zoo.data.sequences import sequence_labels

KINDS = ["mean_probs", "mean_logits", "max_conf", "first", "attention"]




def test_each_kind_by_hand():
    log_p = np.log([[0.5, 0.5], [0.9, 0.1]])
    ids, probs = pool(log_p, ["s", "s"], "mean_probs")
    assert ids.tolist() == ["s"] and probs[0] == pytest.approx([0.7, 0.3])
    _, probs = pool(np.array([[0.0, 0.0], [2.0, 0.0]]), ["s", "s"], "mean_logits")
    assert probs[0] == pytest.approx([np.e / (1 + np.e), 1 / (1 + np.e)])
    _, probs = pool(np.log([[0.6, 0.4], [0.2, 0.8]]), ["s", "s"], "max_conf")
    assert probs[0] == pytest.approx([0.2, 0.8])
    _, probs = pool(np.log([[0.6, 0.4], [0.2, 0.8]]), ["s", "s"], "first", frame=[2, 1])
    assert probs[0] == pytest.approx([0.2, 0.8])


def test_sequences_come_out_sorted_and_separate():
    log_p = np.log([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    ids, probs = pool(log_p, ["b", "a", "b"], "mean_probs")
    assert ids.tolist() == ["a", "b"]
    assert probs == pytest.approx(np.array([[0.2, 0.8], [0.8, 0.2]]))


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(9, 4)) * 2
    seq = np.array(["x", "x", "x", "y", "y", "z", "z", "z", "z"])
    frame = np.array([0, 1, 2, 0, 1, 0, 1, 2, 3])
    torch.manual_seed(0)
    return logits, seq, frame, AttentionPooling(4)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("empty_index", [None, 0])
def test_frame_order_does_not_matter(frames, kind, empty_index):
    logits, seq, frame, attn = frames
    perm = np.random.default_rng(1).permutation(len(seq))
    ref = pool(logits, seq, kind, frame=frame, empty_index=empty_index, attention=attn)[1]
    got = pool(logits[perm], seq[perm], kind, frame=frame[perm], empty_index=empty_index, attention=attn)[1]
    assert got == pytest.approx(ref)
    assert ref.sum(axis=1) == pytest.approx(np.ones(3))


@pytest.mark.parametrize("kind", ["mean_probs", "mean_logits", "max_conf", "attention"])
@pytest.mark.parametrize("empty_index", [None, 0])
def test_duplicating_every_frame_changes_nothing(frames, kind, empty_index):
    logits, seq, _, attn = frames
    ref = pool(logits, seq, kind, empty_index=empty_index, attention=attn)[1]
    got = pool(np.concatenate([logits, logits]), np.concatenate([seq, seq]), kind, empty_index=empty_index, attention=attn)[1]
    assert got == pytest.approx(ref)


def test_empty_frames_do_not_drown_an_animal_frame():
    # classes: empty, lynx, chat; two empty frames and one clear lynx frame
    probs = np.array([[0.98, 0.01, 0.01], [0.98, 0.01, 0.01], [0.02, 0.90, 0.08]])
    assert probs.mean(axis=0).argmax() == 0  # the naive mean says "empty"
    _, pooled = pool(np.log(probs), ["s"] * 3, "mean_probs", empty_index=0)
    empty = (0.98 * 0.98 * 0.02) ** (1 / 3)  # geometric mean = 0.2678
    lynx = (1 - empty) * 0.92 / 1.02  # animal mass shared by summed animal probs: lynx 0.92, chat 0.10
    assert pooled[0] == pytest.approx([empty, lynx, (1 - empty) * 0.10 / 1.02])
    assert pooled[0].argmax() == 1
    for kind in ["mean_logits", "max_conf"]:
        assert pool(np.log(probs), ["s"] * 3, kind, empty_index=0)[1][0].argmax() == 1
    # an all-empty sequence stays empty
    assert pool(np.log(probs[:2]), ["s"] * 2, "mean_probs", empty_index=0)[1][0][0] == pytest.approx(0.98)


def test_detector_confidence_weights_frames():
    probs = np.array([[0.1, 0.9], [0.8, 0.2]])  # classes lynx, chat; only frame 2 had an animal box
    _, pooled = pool(np.log(probs), ["s", "s"], "mean_probs", frame_weights=[0.0, 1.0])
    assert pooled[0] == pytest.approx([0.8, 0.2], abs=1e-5)
    _, pooled = pool(np.log(probs), ["s", "s"], "mean_probs", frame_weights=[0.5, 0.5])
    assert pooled[0] == pytest.approx([0.45, 0.55])


def test_fitted_attention_learns_to_trust_confident_frames():
    # each sequence: one confident frame with the true class and two flat frames leaning to the wrong class
    rng = np.random.default_rng(0)
    logits, seq, targets = [], [], []
    for s in range(60):
        y = s % 3
        sure = np.full(3, -3.0)
        sure[y] = 3.0
        wrong = np.zeros(3)
        wrong[(y + 1) % 3] = 1.2
        logits += [sure, wrong + rng.normal(0, 0.05, 3), wrong + rng.normal(0, 0.05, 3)]
        seq += [f"s{s:02d}"] * 3
        targets.append(y)
    logits, targets = np.array(logits), np.array(targets)
    mean = pool(logits, seq, "mean_logits")[1]
    attn = fit_attention_pooling(logits, seq, targets, epochs=150)
    pooled = pool(logits, seq, "attention", attention=attn)[1]
    nll = lambda p: -np.log(p[np.arange(len(targets)), targets]).mean()
    assert (pooled.argmax(1) == targets).mean() == 1.0
    assert nll(pooled) < nll(mean)


def test_sequence_labels_ignore_empty_frames():
    ids, labels = sequence_labels(["", "lynx", "lynx", "chat", "", ""], ["a", "a", "a", "b", "b", "c"])
    assert ids.tolist() == ["a", "b", "c"] and labels.tolist() == ["lynx", "chat", ""]


def test_bad_inputs():
    with pytest.raises(ValueError, match="missing"):
        pool(np.zeros((2, 2)), ["a", None])
    with pytest.raises(ValueError, match="3 values for 2 frames"):
        pool(np.zeros((2, 2)), ["a", "a", "b"])
    with pytest.raises(ValueError, match="AttentionPooling"):
        pool(np.zeros((2, 2)), ["a", "a"], "attention")
    with pytest.raises(ValueError, match="NaN"):
        pool(np.array([[0.0, np.nan]]), ["a"])
    with pytest.raises(ValueError, match="kind"):
        pool(np.zeros((1, 2)), ["a"], "median")
    with pytest.raises(ValueError, match="frame_weights"):
        pool(np.zeros((2, 2)), ["a", "a"], frame_weights=[0.5, 2.0])
