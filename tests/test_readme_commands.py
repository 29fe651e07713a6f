"""Every command line of README.md's console blocks, run as written (with a small budget).

The command lines are read from README.md itself, so a command added there is run here
too (or must be listed in NOT_RUN with the reason). Commands that score get
``--max-images 256``; those that name files the README assumes (a RepDistiller
checkpoint, CIFAR-100 under ./data) run in a folder where the test writes them in that
exact format: the real RepDistiller resnet56 checkpoint from tests/data, and a small
CIFAR-100 in torchvision's layout.
"""

from __future__ import annotations

import pickle
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

from dastat.cli import main

REPO = Path(__file__).resolve().parents[1]
BUDGET = ["--max-images", "256"]
#: README lines this test cannot run as written, each with the reason and where what it shows is tested.
NOT_RUN = {
    "make demo": "sets up a virtualenv and installs packages; its scoring step is `dastat rank`, run here",
    "make test": "runs the whole test suite, which includes this test",
    "dastat rank --teacher torchvision:resnet50 --data imagefolder:~/imagenet":
        "downloads torchvision's ImageNet weights (hash-checked, so no local file can stand in) and needs "
        "ImageNet; the `~` in its --data is tested in test_nothing_silent.py::test_tilde_and_variables_in_paths",
    "dastat rank --protocol paper --epochs 10":
        "the paper protocol has no image budget: 10 passes over Fashion-MNIST's 60,000 images for 8 DAs; the "
        "protocol itself is tested on small data in test_scoring.py",
}


def _same(line: str) -> str:
    """A command line in one spelling (shlex's), so that quoting differences do not matter."""
    return shlex.join(shlex.split(line, comments=True))


NOT_RUN = {_same(line): why for line, why in NOT_RUN.items()}


def readme_commands() -> list[str]:
    """The command lines of README.md's ``console`` blocks, without the prompt and the comments."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                lines.append(_same(line[2:]))
    return lines


def write_cifar100(root: Path, n_train: int = 320, n_test: int = 64) -> None:
    """``root/cifar-100-python/{train,test,meta}`` as torchvision's CIFAR100 writes them (random images)."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", n_train), ("test", n_test)):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                         b"fine_labels": rng.integers(0, 100, size=n).tolist(),
                         b"coarse_labels": rng.integers(0, 20, size=n).tolist()}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, f)


@pytest.fixture(scope="module")
def readme_folder(tmp_path_factory, reference_dir):
    """A folder holding what the README's commands assume: the resnet56 checkpoint and CIFAR-100 under ./data."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(reference_dir / "repdistiller" / "resnet56_vanilla", folder / "resnet56_vanilla")
    write_cifar100(folder / "data")
    return folder


def test_every_readme_command_is_run_or_excused():
    commands = readme_commands()
    assert len(commands) >= 8, commands
    assert set(NOT_RUN) <= set(commands), set(NOT_RUN) - set(commands)


@pytest.mark.parametrize("command", [c for c in readme_commands() if c not in NOT_RUN])
def test_readme_command_runs_as_written(command, readme_folder, monkeypatch, capsys):
    monkeypatch.chdir(readme_folder)
    monkeypatch.delenv("DASTAT_DATA", raising=False)
    argv = shlex.split(command)
    assert argv[0] == "dastat", command
    argv = argv[1:] + (BUDGET if argv[1] in ("score", "rank", "tune", "evaluate") else [])
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, f"{command}: {err}"
    assert "Traceback" not in err and out.strip(), command
    if "--report" in argv:
        report = Path(argv[argv.index("--report") + 1])
        assert report.is_file() and "cutmix_pick_s" in report.read_text(encoding="utf-8")
    if argv[0] == "evaluate":  # a RepDistiller checkpoint records its accuracy; random images are far from it
        assert "records 72.34% as 'accuracy'" in out and "dastat: warning:" in err
