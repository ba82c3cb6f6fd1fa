"""The command line: every command has --help; errors are one line on stderr and a non-zero exit."""

import subprocess
import sys

import numpy as np
import pytest

import kinetix
from kinetix.cli import main


@pytest.mark.parametrize("command", ["plugins", "mechanisms", "solvers", "generate", "inspect", "train",
                                     "evaluate", "simulate"])
def test_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert "Usage: kinetix" in capsys.readouterr().out


def test_mechanisms_and_solvers_are_listed(capsys):
    assert main(["mechanisms"]) == 0
    listing = capsys.readouterr().out
    assert any(line.startswith("robertson ") for line in listing.splitlines())
    assert any(line.startswith("pollu ") for line in listing.splitlines())
    assert main(["solvers"]) == 0
    assert "rodas5p" in capsys.readouterr().out


def test_generate_and_inspect(tmp_path, capsys):
    out = tmp_path / "r.h5"
    assert main(["generate", "robertson", "--out", str(out), "-n", "5", "--seed", "3", "--no-progress"]) == 0
    data = kinetix.load_dataset(out)
    assert data.y.shape == (5, 50, 3)
    assert data.metadata["provenance"]["seed"] == 3
    assert data.metadata["provenance"]["solver"]["method"] == "rodas5p"
    np.testing.assert_allclose(data.y.sum(-1).numpy(), data.y0.sum(-1, keepdim=True).expand(5, 50).numpy(), atol=1e-10)
    assert main(["inspect", str(out)]) == 0
    assert "trajectories 5, times 50" in capsys.readouterr().out


def test_generate_is_reproducible_from_the_seed(tmp_path):
    for name in ("a", "b"):
        assert main(["generate", "pollu", "--out", str(tmp_path / f"{name}.h5"), "-n", "3", "--seed", "7",
                     "--no-progress"]) == 0
    a, b = (kinetix.load_dataset(tmp_path / f"{name}.h5") for name in ("a", "b"))
    assert (a.y == b.y).all() and (a.y0 == b.y0).all()


def test_existing_output_is_refused_and_untouched(tmp_path, capsys):
    out = tmp_path / "r.h5"
    out.write_bytes(b"precious")
    assert main(["generate", "robertson", "--out", str(out), "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "already exists; pass --force" in error
    assert out.read_bytes() == b"precious"


def test_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kinetix-mechanism: 1\nname: x\nspecies: [A]\nreactions: [{equation: A => B, rate_constant: 1}]\n"
                   "time: {span: [0, 1], grid: {points: 2}}\n")
    assert main(["generate", str(bad), "--out", str(tmp_path / "x.h5")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("kinetix: error: ") and error.count("\n") == 1
    assert "bad.yaml: reactions[0].equation: unknown species 'B'" in error
    assert main(["inspect", str(tmp_path / "missing.h5")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["--debug", "inspect", str(tmp_path / "missing.h5")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_console_script_exit_code(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kinetix.cli", "inspect", str(tmp_path / "nope.h5")],
                            capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.startswith("kinetix: error:")


def test_perturbation_options(tmp_path):
    out = tmp_path / "r.h5"
    assert main(["generate", "robertson", "--out", str(out), "-n", "20", "--perturb", "A=0.2:0.4", "--no-progress"]) == 0
    y0 = kinetix.load_dataset(out).y0
    assert ((y0[:, 0] >= 0.2) & (y0[:, 0] <= 0.4)).all()
    np.testing.assert_allclose(y0.sum(-1).numpy(), 1.0, rtol=1e-14)  # C balances the total
    assert main(["generate", "robertson", "--out", str(out), "--perturb", "Q=1:2", "--force", "--no-progress"]) == 1
    assert main(["generate", "robertson", "--out", str(out), "--perturb", "A=2:1", "--force", "--no-progress"]) == 1
