"""``dastat --version`` and ``dastat --help`` answer at once: no heavy library is imported for them.

Timing a subprocess on a shared machine is noise; what makes them slow is importing torch
(seconds), so the test asserts which modules a fresh interpreter has loaded after answering.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "numpy", "pandas", "scipy", "matplotlib")

_PROBE = """
import contextlib, io, json, sys
from dastat.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "out": out.getvalue(), "loaded": sorted({m.split('.')[0] for m in sys.modules})}))
"""


def _answer(*argv: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, env=env,
                          timeout=120, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["zoo", "--help"], ["bogus"]])
def test_light_answers_import_no_heavy_library(argv):
    result = _answer(*argv)
    assert not set(HEAVY) & set(result["loaded"]), set(HEAVY) & set(result["loaded"])
    if argv == ["--version"]:
        assert result["code"] == 0 and result["out"].startswith("dastat ")
    elif argv == ["--help"]:
        # Every subcommand is still listed with its help line.
        assert result["code"] == 0
        for name in ("score", "rank", "tune", "evaluate", "zoo", "augment", "train", "validate", "correlate", "plot"):
            assert f"\n    {name}" in result["out"], name
        assert "rank DAs by T. stddev" in result["out"]
    elif argv == ["bogus"]:
        assert result["code"] == 2


def test_a_command_gets_its_full_arguments():
    """Only the named subcommand is declared in full; its own options still parse."""
    from dastat.cli import build_parser

    args = build_parser("rank").parse_args(["rank", "--by", "ce_var_t", "--max-images", "64"])
    assert (args.by, args.max_images) == ("ce_var_t", 64)
    with pytest.raises(SystemExit):
        build_parser("zoo").parse_args(["rank", "--by", "ce_var_t"])  # "rank" is declared by name only there


@pytest.mark.parametrize("command", ["rank", "score", "tune"])
def test_scoring_defaults_are_read_from_the_config(command):
    """The command line retypes no default of ScoreConfig."""
    from dastat.cli import build_parser
    from dastat.scoring import ScoreConfig

    args = build_parser(command).parse_args([command] + (["--da", "cutmix"] if command != "rank" else []))
    config = ScoreConfig()
    for name in ("protocol", "epochs", "precision", "max_images", "draws", "batch_size", "seed", "device", "by"):
        if hasattr(args, name):
            assert getattr(args, name) == getattr(config, name), name
