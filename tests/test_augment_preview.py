"""``dastat augment list --json`` and the notes ``dastat augment preview`` writes under each view.

The notes are read back from the figure's text and checked against values computed
here from the recorded params and the images (the kept area from the box, λ from the
pixels, the kept pool view by rebuilding the pool).
"""

from __future__ import annotations

import json
import re

import torch

from dastat.augment import AugmentContext, available, create
from dastat.cli import main
from dastat.plot import preview_figure

from test_augment_helpers import tiny_net

CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat"]


def test_list_json(capsys):
    assert main(["augment", "list", "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert list(entries) == available()
    cutmix = entries["cutmix"]
    assert cutmix["parameters"] == [{"name": "alpha", "required": False, "default": 1.0},
                                    {"name": "per_sample", "required": False, "default": False}]
    assert cutmix["mixes"] and cutmix["shared_randomness"] and not cutmix["batch_dependent"] and cutmix["paper"]
    assert entries["identity"]["deterministic"] and not entries["identity"]["mixes"]
    assert entries["cutmix_pick_t"]["batch_dependent"] and entries["cutmix_pick_t"]["mixes"]
    assert not entries["randaugment"]["paper"] and entries["cutmix"]["description"].startswith("Paste a box")


def _notes(x, result, y):
    logits = [torch.zeros(x.shape[0], 5), torch.zeros(x.shape[0], 5)]
    fig = preview_figure(x, result, logits, y, CLASSES, "test")
    n = x.shape[0]
    return [ax.xaxis.label.get_text() for ax in fig.axes[n:2 * n]]


def _shares(text):
    return {name: float(v) for v, name in re.findall(r"(\d\.\d\d) ([A-Za-z-]+)(?: /|$)", text, re.M)}


def _expected_shares(lam, own, partner):
    out = {}
    for cls, share in ((own, lam), (partner, 1 - lam)):
        out[cls] = out.get(cls, 0.0) + share
    return {k: round(v, 2) for k, v in out.items() if round(v, 2) > 0}


def test_cutmix_notes_show_kept_area_partner_and_shares():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 1, 16, 16), generator=g, dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    result = create("cutmix", AugmentContext(num_classes=5))(x, y, generator=torch.Generator().manual_seed(3))
    top, left, bottom, right = result.params["box"][0].tolist()
    kept = 1 - (bottom - top) * (right - left) / 256
    for i, text in enumerate(_notes(x, result, y)):
        partner = int(result.params["perm"][i])
        assert f"kept {kept:.2f}" in text
        assert f"partner {CLASSES[int(y[partner])]}" in text
        assert _shares(text) == _expected_shares(kept, CLASSES[int(y[i])], CLASSES[int(y[partner])])


def test_mixup_notes_show_lambda_recovered_from_the_pixels():
    x = torch.linspace(0, 1, 4).view(4, 1, 1, 1).expand(4, 1, 3, 3).clone()
    y = torch.tensor([0, 1, 2, 3])
    result = create("mixup(per_sample=True)", AugmentContext(num_classes=5))(x, y, generator=torch.Generator().manual_seed(1))
    for i, text in enumerate(_notes(x, result, y)):
        j = int(result.params["perm"][i])
        if i == j:
            continue
        lam = float((result.x[i, 0, 0, 0] - x[j, 0, 0, 0]) / (x[i, 0, 0, 0] - x[j, 0, 0, 0]))
        assert f"λ={lam:.2f}" in text


def test_pick_notes_name_the_kept_pool_view_and_its_entropy():
    teacher = tiny_net(1, 5, 0)
    ctx = AugmentContext(num_classes=5, teacher=teacher)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 1, 12, 12, generator=g)
    y = torch.tensor([0, 1, 2, 3])
    result = create("cutmix_pick_t", ctx)(x, y, generator=torch.Generator().manual_seed(5))
    # The pool, rebuilt from the same stream.
    g = torch.Generator().manual_seed(5)
    cutmix = create("cutmix", ctx)
    pool = torch.cat([cutmix(x, y, generator=g).x for _ in range(2)])
    for i, text in enumerate(_notes(x[result.params["source"]], result, y)):
        k = int(re.search(r"pool #(\d+)", text).group(1))
        assert torch.equal(pool[k], result.x[i])
        with torch.no_grad():
            p = teacher(pool[k:k + 1]).double().softmax(1)
        assert f"teacher H={float(-(p * p.log()).sum()):.2f}" in text


def test_preview_figure_does_not_switch_the_backend():
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); import torch; "
            "from dastat.augment import create; from dastat.plot import preview_figure; "
            "x = torch.rand(3, 1, 8, 8); y = torch.tensor([0, 1, 2]); "
            "r = create('cutmix')(x, y, generator=torch.Generator().manual_seed(0)); "
            "preview_figure(x, r, [torch.zeros(3, 3)] * 2, y, ['a', 'b', 'c'], 't'); print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "svg"
