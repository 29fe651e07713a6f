"""dastat evaluate: the metric functions against hand-computed values, and end to end on the bundled default."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import dastat
from dastat.cli import main
from dastat.evaluation import calibration_bins, ece_from_bins, expected_calibration_error, topk_correct

# Four predictions over three classes, written as probabilities so every number below is by hand.
PROBS = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]], dtype=torch.float64)
LABELS = torch.tensor([0, 1, 2, 0])


def test_topk_by_hand():
    logits = PROBS.log()
    assert topk_correct(logits, LABELS, (1, 2, 5)) == {1: 3, 2: 4, 5: 4}  # row 2's label is its second choice


def test_ece_by_hand():
    # confidences .7 .5 .6 .9 fall in bins 10, 7, 8 (0.6 lies inside (8/15, 9/15]) and 13, one each:
    # ECE = (|1-.7| + |0-.5| + |1-.6| + |1-.9|) / 4
    conf, pred = PROBS.max(dim=1)
    assert expected_calibration_error(conf, pred == LABELS) == pytest.approx((0.3 + 0.5 + 0.4 + 0.1) / 4)
    # two predictions sharing a bin are averaged first: .70 right and .72 wrong in (10/15, 11/15]
    conf2 = torch.tensor([0.70, 0.72, 0.05 + 0.9])
    correct2 = torch.tensor([True, False, True])
    expected = (2 * abs(0.5 - 0.71) + abs(1 - 0.95)) / 3
    assert expected_calibration_error(conf2, correct2) == pytest.approx(expected)
    # summing per-batch tables gives the whole set's ECE
    halves = calibration_bins(conf2[:1], correct2[:1]) + calibration_bins(conf2[1:], correct2[1:])
    assert ece_from_bins(halves) == pytest.approx(expected)


def test_perfect_calibration_is_zero():
    conf = torch.full((10,), 0.8, dtype=torch.float64)
    correct = torch.tensor([True] * 8 + [False] * 2)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)


def _reference(logits: np.ndarray, labels: np.ndarray) -> dict:
    """A plain numpy implementation of the four metrics."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(logp)
    conf, pred = p.max(axis=1), p.argmax(axis=1)
    ece = 0.0
    for i in range(15):
        inside = (conf > i / 15) & (conf <= (i + 1) / 15)
        if inside.any():
            ece += inside.mean() * abs((pred[inside] == labels[inside]).mean() - conf[inside].mean())
    top5 = (np.argsort(-logits, axis=1)[:, :5] == labels[:, None]).any(axis=1).mean()
    return {"top1": (pred == labels).mean(), "top5": top5, "loss": -logp[np.arange(len(labels)), labels].mean(),
            "ece": ece}


def test_evaluate_matches_a_numpy_reference(fmnist, bundled_teacher):
    from dastat.data import Split

    test = Split(fmnist.test.images[:300], fmnist.test.labels[:300])
    data = dataclasses.replace(fmnist, test=test, spec="fashion-mnist[300]")
    result = dastat.evaluate(bundled_teacher, data, batch_size=64, device="cpu")
    with torch.no_grad():
        logits = bundled_teacher(test.images).double().numpy()
    expected = _reference(logits, test.labels.numpy())
    assert result.n_images == 300
    for key, value in expected.items():
        assert getattr(result, key) == pytest.approx(value, abs=1e-5), key


def test_cli_on_the_bundled_default(capsys):
    assert main(["evaluate", "--max-images", "500", "--json", "--device", "cpu"]) == 0
    doc = json.loads(capsys.readouterr().out)  # the one shape: {"provenance": ..., "results": [record]}
    assert set(doc) == {"provenance", "results"} and doc["provenance"]["command"]
    (out,) = doc["results"]
    assert out["n_images"] == 500 and out["teacher"].startswith("bundled")
    # the manifest records 94.04% on the whole test set; 500 images stay within a few points of it
    assert abs(100 * out["top1"] - 94.04) < 4 and out["top5"] >= out["top1"]
    assert 0 <= out["ece"] < 0.1 and math.isfinite(out["loss"])
    assert out["inputs"]["resolution"] == 28 and "provenance" not in out


def test_evaluate_out_is_read_by_load_results(tmp_path):
    """evaluate --out writes the shape every command writes, so dastat.load_results reads it."""
    import dastat

    path = tmp_path / "e.json"
    assert main(["evaluate", "--max-images", "128", "--device", "cpu", "--out", str(path)]) == 0
    loaded = dastat.load_results(path)
    assert loaded["provenance"]["teacher"] and [r["n_images"] for r in loaded["results"]] == [128]
