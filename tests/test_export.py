"""The exported reaction step: correctness against scipy, per-member independence, loading without
kinetix, the CLI's refusals, and the artifact called from C++ against the libtorch of the torch wheel."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from kinetix.cli import main
from kinetix.export import reaction_step
from kinetix.networks import ScaledMLP
from kinetix.surrogate import Surrogate
from kinetix_trainers.latent_network import LatentODE

SPECIES = ("T", "A", "B", "C")


def full_state_surrogate(method="rodas3p") -> Surrogate:
    """A stiff-ish random field on 4 components (time constants 0.02-1)."""
    torch.manual_seed(0)
    field = ScaledMLP(4, width=12, depth=2, output_scale=torch.tensor([5.0, 1.0, 2.0, 50.0]))
    info = {"y0": [0.1, 0.2, 0.3, 0.4], "t": [1.0], "units": {"time": "s", "state": "K, mass fractions"},
            "solver": {"method": method, "rtol": 1e-7, "atol": 1e-10}}
    return Surrogate(field.requires_grad_(False), {"name": "mlp", "config": field.config}, SPECIES, info)


def latent_surrogate() -> Surrogate:
    """A random latent surrogate over [T, Y_1..Y_3, P] with one conserved element."""
    torch.manual_seed(1)
    field = LatentODE(5, latent=2, elements=[[1.0, 2.0, 1.0]], pressure=True, width=8, depth=1, time_scale=0.5)
    with torch.no_grad():
        field.state_shift.copy_(torch.tensor([1000.0, 0.3, 0.3, 0.3, 11.5]))
        field.state_scale.copy_(torch.tensor([300.0, 0.2, 0.2, 0.2, 1.0]))
    info = {"y0": [1000.0, 0.2, 0.3, 0.5, 1e5], "t": [1.0], "kind": "latent",
            "solver": {"method": "dopri5", "rtol": 1e-9, "atol": 1e-12}}
    return Surrogate(field.requires_grad_(False), {"name": "latent", "config": field.config},
                     ("T", "A", "B", "C", "P"), info)


def progress_surrogate() -> Surrogate:
    """A random progress-variable surrogate of H2/air on h2o2.yaml (states [T, Y_1..Y_10, P])."""
    from training.test_progress import SPECIES, random_model, unburnt

    field = random_model(seed=8)
    info = {"y0": unburnt(1.0, 1100.0, 5e5), "t": [1.0], "kind": "progress",
            "solver": {"method": "quadrature", "rtol": 1e-8, "atol": 1e-10}}
    return Surrogate(field, {"name": "progress", "config": field.config}, ("T", *SPECIES, "P"), info)


def flow_map_surrogate() -> Surrogate:
    """A random flow map of H2/air on h2o2.yaml, trained range 0.1-1 s (the tests' steps are 0.25 and 0.5 s)."""
    from training.test_flow_map import random_flow_map
    from training.test_progress import SPECIES, unburnt

    field = random_flow_map(seed=3, dt_min=0.1, dt_max=1.0)
    with torch.no_grad():
        field.output_scale.mul_(1e-6)            # [1/s]: changes of 1e-6..1e-3 over the tests' steps
    info = {"y0": unburnt(1.0, 1100.0, 5e5), "t": [1.0], "kind": "flowmap", "solver": {"method": "flowmap"}}
    return Surrogate(field, {"name": "flowmap", "config": field.config}, ("T", *SPECIES, "P"), info)


def states(surrogate: Surrogate, count: int, seed: int = 2) -> torch.Tensor:
    y0 = torch.tensor(surrogate.info["y0"], dtype=torch.float64)
    if surrogate.info.get("kind") in ("progress", "flowmap"):  # part way through ignitions: a progress variable > 0
        from training.test_progress import burning_states

        return burning_states(count, seed)
    spread = 1 + 0.2 * torch.rand(count, len(y0), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return y0 * spread


@pytest.mark.parametrize("method", ["rodas3p", "rodas5p", "dopri5", "bosh3"])
def test_step_matches_scipy(method):
    surrogate = full_state_surrogate()
    step = reaction_step(surrogate, method=method)
    y = states(surrogate, 3)
    dt = torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64)
    got = step(y, dt)
    for member in range(3):
        reference = solve_ivp(lambda t, x: surrogate.field(t, torch.from_numpy(x)).numpy(), (0.0, float(dt[member])),
                              y[member].numpy(), method="Radau", rtol=1e-12, atol=1e-14).y[:, -1]
        assert np.allclose(got[member].numpy(), reference, rtol=1e-5, atol=1e-8), method


def test_members_are_independent_and_zero_step_is_identity():
    surrogate = full_state_surrogate()
    step = reaction_step(surrogate)
    y = states(surrogate, 6)
    dt = torch.tensor([0.0, 1e-3, 0.1, 1.0, 3.0, 0.5], dtype=torch.float64)
    together = step(y, dt)
    alone = torch.cat([step(y[i:i + 1], dt[i:i + 1]) for i in range(6)])
    assert torch.allclose(together, alone, rtol=1e-13, atol=0)
    assert torch.equal(together[0], y[0])


def test_exhausted_steps_give_nan():
    surrogate = full_state_surrogate()
    y = states(surrogate, 2)
    out = reaction_step(surrogate, method="dopri5", max_steps=3)(y, torch.tensor([1e-3, 50.0], dtype=torch.float64))
    assert torch.isfinite(out[0]).all() and torch.isnan(out[1]).all()


def test_latent_step_keeps_invariants_and_matches_simulate():
    surrogate = latent_surrogate()
    y = states(surrogate, 4)
    step = reaction_step(surrogate)
    after = step(y, torch.tensor(0.7, dtype=torch.float64))
    elements = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64)
    assert torch.allclose(after[:, 1:4] @ elements, y[:, 1:4] @ elements, rtol=1e-13)
    assert torch.allclose(after[:, -1], y[:, -1], rtol=1e-14)
    simulated = surrogate.simulate(y, [0.0, 0.7], rtol=1e-12, atol=1e-14)[-1]
    assert torch.allclose(after, simulated, rtol=1e-7)


def test_progress_step_by_quadrature_matches_a_rosenbrock_step_and_simulate():
    surrogate = progress_surrogate()
    y = states(surrogate, 5)
    dt = torch.tensor([0.0, 1e-7, 1e-6, 1e-5, 1e-4], dtype=torch.float64)
    quadrature = reaction_step(surrogate)(y, dt)
    rosenbrock = reaction_step(surrogate, method="rodas5p", rtol=1e-11, atol=1e-12)(y, dt)
    assert torch.equal(quadrature[0], y[0])
    assert torch.allclose(quadrature, rosenbrock, rtol=1e-7, atol=1e-13)
    simulated = torch.stack([surrogate.simulate(y[i], [0.0, float(dt[i])])[-1] for i in range(1, 5)])
    assert torch.allclose(quadrature[1:, 1:-1], simulated[:, 1:-1], rtol=0, atol=1e-8)   # changes of 1e-2..1e-1


def _export(surrogate, tmp_path, name):
    folder = surrogate.save(tmp_path / f"{name}-run")
    out = tmp_path / f"{name}.pt"
    assert main(["export", str(folder), "--out", str(out)]) == 0
    return out


LOAD_WITHOUT_KINETIX = """
import json, sys
sys.modules["kinetix"] = None           # any import of kinetix now fails
import torch
extra = {"kinetix.json": ""}
step = torch.jit.load(sys.argv[1], _extra_files=extra)
y = torch.tensor(json.loads(sys.argv[2]), dtype=torch.float64)
print(json.dumps({"y": step(y, torch.tensor(0.5, dtype=torch.float64)).tolist(),
                  "state": json.loads(extra["kinetix.json"])["state"]}))
"""


@pytest.mark.parametrize("make", [full_state_surrogate, latent_surrogate, progress_surrogate, flow_map_surrogate])
def test_artifact_loads_without_kinetix(make, tmp_path):
    surrogate = make()
    out = _export(surrogate, tmp_path, make.__name__)
    y = states(surrogate, 3)
    result = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_KINETIX, str(out), json.dumps(y.tolist())],
                            capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout)
    assert loaded["state"] == list(surrogate.species)
    expected = reaction_step(surrogate)(y, torch.tensor(0.5, dtype=torch.float64))
    assert np.allclose(loaded["y"], expected.numpy(), rtol=1e-12, atol=0)


def test_export_refusals(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "a.pt")]) == 1
    assert "not a surrogate folder" in capsys.readouterr().err
    out = _export(full_state_surrogate(), tmp_path, "first")
    before = out.read_bytes()
    assert main(["export", str(tmp_path / "first-run"), "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["export", str(tmp_path / "first-run"), "--out", str(tmp_path / "b.pt"), "--method", "euler"]) == 1
    assert "no reaction-step integrator 'euler'" in capsys.readouterr().err


# -- C++ ------------------------------------------------------------------------------------------
PROGRAM = "docs/examples/export/reaction_step.cpp"


@pytest.fixture(scope="module")
def cpp_program(tmp_path_factory, request):
    compiler = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no C++ compiler (c++, g++ or clang++) on PATH: the C++ reaction-step test needs one")
    from torch.utils.cpp_extension import include_paths, library_paths

    binary = tmp_path_factory.mktemp("cpp") / "reaction_step"
    lib = library_paths()[0]
    command = [compiler, "-std=c++20", "-O1", f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
               str(request.config.rootpath / PROGRAM), *(f"-I{path}" for path in include_paths()), f"-L{lib}",
               f"-Wl,-rpath,{lib}", "-ltorch", "-ltorch_cpu", "-lc10", "-o", str(binary)]
    subprocess.run(command, check=True, capture_output=True)
    return binary


@pytest.mark.parametrize("make", [full_state_surrogate, latent_surrogate, progress_surrogate, flow_map_surrogate])
def test_cpp_reproduces_python(make, cpp_program, tmp_path):
    surrogate = make()
    artifact = _export(surrogate, tmp_path, make.__name__)
    y = states(surrogate, 64, seed=5)
    (tmp_path / "in.bin").write_bytes(y.numpy().tobytes())
    result = subprocess.run([str(cpp_program), str(artifact), str(tmp_path / "in.bin"), "64", "0.25",
                             str(tmp_path / "out.bin")], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout)["state"] == list(surrogate.species)
    from_cpp = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=np.float64).reshape(y.shape)
    from_python = reaction_step(surrogate)(y, torch.tensor(0.25, dtype=torch.float64)).numpy()
    assert np.isfinite(from_python).all()
    assert (np.abs(from_cpp - from_python) <= 1e-10 * np.abs(from_python).max(axis=0)).all()   # per component
    assert np.abs(from_cpp - y.numpy()).max() > 1e-6  # the step moved the states
