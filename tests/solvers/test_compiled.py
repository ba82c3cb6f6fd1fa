"""A whole solve as one compiled program gives the eager loop's steps and outputs, to rounding."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import kinetix

pytestmark = pytest.mark.slow  # one compilation: about a minute


def test_compiled_solve_takes_the_eager_steps_for_any_batch_size(robertson):
    t = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-5, 5, 30, dtype=torch.float64)])
    y0 = torch.tensor([[1.0, 0.0, 0.0], [0.6, 1e-3, 0.399], [0.9, 0.0, 0.1]], dtype=torch.float64)
    with torch.no_grad():
        for batch in (3, 1, 4):  # 3 and 4 share one padded program; 1 has its own
            members = y0[torch.arange(batch) % 3]
            eager = kinetix.integrate_mechanism(robertson, members, t, rtol=1e-6, atol=1e-10)
            compiled = kinetix.integrate_mechanism(robertson, members, t, rtol=1e-6, atol=1e-10,
                                                   options={"compile": "solve"})
            assert compiled.ys.shape == eager.ys.shape
            torch.testing.assert_close(compiled.ys, eager.ys, rtol=1e-9, atol=1e-20)
            for field in ("steps", "rejected", "rhs_evals", "jacobian_evals"):
                assert getattr(compiled.stats, field).tolist() == getattr(eager.stats, field).tolist(), field
            assert compiled.status.tolist() == [0] * batch
            torch.testing.assert_close(compiled.t_reached, eager.t_reached, rtol=0, atol=0)


STATES = """
import json, sys, torch, kinetix
rows = [[1.0, 0.0, 0.0]] * 4 if sys.argv[1] == "expanded" else [[1.0, 0.0, 0.0], [0.6, 1e-3, 0.399], [0.9, 0.0, 0.1], [0.5, 0.0, 0.5]]
y0 = torch.tensor(rows[:1], dtype=torch.float64).expand(4, 3) if sys.argv[1] == "expanded" else torch.tensor(rows, dtype=torch.float64)
with torch.no_grad():
    solution = kinetix.solve(kinetix.load_mechanism("robertson"), y0, torch.tensor([0.0, 1.0, 10.0, 100.0], dtype=torch.float64),
                             options={"compile": "solve"})
print(json.dumps(solution.ys.tolist()))
"""


def run_python(script: str, cache: Path, *arguments: str) -> subprocess.CompletedProcess:
    """``script`` in a fresh interpreter with ``cache`` as kinetix's cache folder."""
    environment = {**os.environ, "KINETIX_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", script, *arguments], env=environment, check=True,
                          capture_output=True, text=True)


def printed(process: subprocess.CompletedProcess):
    return json.loads(process.stdout.splitlines()[-1])


def test_a_package_built_from_an_expanded_state_serves_any_state(tmp_path):
    runs = {kind: printed(run_python(STATES, tmp_path, kind))
            for kind in ("expanded", "members")}  # the second process runs the first one's package
    members = torch.tensor([[1.0, 0.0, 0.0], [0.6, 1e-3, 0.399], [0.9, 0.0, 0.1], [0.5, 0.0, 0.5]], dtype=torch.float64)
    with torch.no_grad():
        eager = kinetix.solve(kinetix.load_mechanism("robertson"), members,
                              torch.tensor([0.0, 1.0, 10.0, 100.0], dtype=torch.float64))
    assert len(list((tmp_path / "solves").glob("*.pt2"))) == 1
    torch.testing.assert_close(torch.tensor(runs["members"], dtype=torch.float64), eager.ys, rtol=1e-9, atol=1e-20)


def test_a_rate_constant_changed_in_place_is_solved_with_its_new_value(robertson):
    t = torch.logspace(-5, 5, 20, dtype=torch.float64)
    constant = next(tensor for tensor in [*robertson.parameters(), *robertson.buffers()] if tensor.is_floating_point())
    with torch.no_grad():
        before = kinetix.integrate_mechanism(robertson, t=t, rtol=1e-6, atol=1e-10, options={"compile": "solve"})
        constant.mul_(10)
        after = kinetix.integrate_mechanism(robertson, t=t, rtol=1e-6, atol=1e-10, options={"compile": "solve"})
        eager = kinetix.integrate_mechanism(robertson, t=t, rtol=1e-6, atol=1e-10)
    torch.testing.assert_close(after.ys, eager.ys, rtol=1e-9, atol=1e-20)
    assert not torch.allclose(after.ys, before.ys)


def test_threads_can_share_one_compiled_solve(robertson, tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("KINETIX_CACHE_DIR", str(tmp_path))  # no package yet: the threads' first calls build it

    t = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-5, 5, 30, dtype=torch.float64)])
    y0 = torch.tensor([[1.0, 0.0, 0.0], [0.6, 1e-3, 0.399], [0.9, 0.0, 0.1]], dtype=torch.float64)

    def solve(options):
        with torch.no_grad():  # per thread
            return kinetix.integrate_mechanism(robertson, y0, t, rtol=1e-6, atol=1e-10, options=options).ys

    eager = solve({})
    with ThreadPoolExecutor(2) as pool:
        for ys in pool.map(solve, [{"compile": "solve"}] * 6):
            torch.testing.assert_close(ys, eager, rtol=1e-9, atol=1e-20)


SECOND_PROCESS = """
import json, sys, torch, kinetix
with torch.no_grad():
    solution = kinetix.integrate_mechanism(kinetix.load_mechanism("robertson"), rtol=1e-6, atol=1e-10,
                                           options={"compile": "solve"})
print(json.dumps({"compiler imported": "torch._dynamo" in sys.modules, "ys": solution.ys.tolist()}))
"""


def test_a_second_process_runs_the_solve_from_its_package_without_the_compiler(tmp_path):
    runs = [printed(run_python(SECOND_PROCESS, tmp_path)) for _ in range(2)]
    assert len(list((tmp_path / "solves").glob("*.pt2"))) == 1
    assert runs[0]["compiler imported"] and not runs[1]["compiler imported"]
    assert runs[1]["ys"] == runs[0]["ys"]
    (path,) = (tmp_path / "solves").glob("*.pt2")
    path.write_bytes(b"not a package")  # a damaged file is built again, with a warning, not trusted
    rebuilt = run_python(SECOND_PROCESS, tmp_path)
    assert "could not be loaded" in rebuilt.stderr and printed(rebuilt)["ys"] == runs[0]["ys"]
    assert path.stat().st_size > 1000 and not list((tmp_path / "solves").glob(".*partial*"))
    with torch.no_grad():
        eager = kinetix.integrate_mechanism(kinetix.load_mechanism("robertson"), rtol=1e-6, atol=1e-10)
    torch.testing.assert_close(torch.tensor(runs[1]["ys"], dtype=torch.float64), eager.ys, rtol=1e-9, atol=1e-20)


def test_without_a_package_the_solve_compiles_in_process(robertson, monkeypatch):
    from kinetix.solvers import compiled, package

    monkeypatch.setattr(package, "fingerprint", lambda *arguments: None)  # as for a function of unknown kind
    monkeypatch.setattr(compiled, "_FINGERPRINTS", {})
    t = torch.logspace(-5, 5, 20, dtype=torch.float64)
    y0 = torch.tensor([[1.0, 0.0, 0.0], [0.6, 1e-3, 0.399]], dtype=torch.float64)
    with torch.no_grad():
        eager = kinetix.integrate_mechanism(robertson, y0, t, rtol=1e-6, atol=1e-10)
        inside = kinetix.integrate_mechanism(robertson, y0, t, rtol=1e-6, atol=1e-10, options={"compile": "solve"})
    assert any(key[1] is False for key in compiled._PROGRAMS)  # the batch's program, plain loops
    torch.testing.assert_close(inside.ys, eager.ys, rtol=1e-9, atol=1e-20)
    assert inside.stats.steps.tolist() == eager.stats.steps.tolist()


def test_a_network_with_a_scalar_buffer_is_packaged():
    from kinetix.networks import ScaledMLP

    torch.manual_seed(0)
    field = ScaledMLP(3, width=3, depth=1, time_scale=10.0)  # time_scale: a 0-d buffer
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    y0 = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = kinetix.solve(field, y0, t, rtol=1e-6, atol=1e-10, options={"compile": "solve"})
        eager = kinetix.solve(field, y0, t, rtol=1e-6, atol=1e-10)
    assert not [str(w.message) for w in caught if "ahead of time" in str(w.message)]  # failed before: a scalar constant
    torch.testing.assert_close(compiled.ys, eager.ys, rtol=1e-9, atol=1e-20)
