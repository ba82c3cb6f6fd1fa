"""A reactor's whole solve compiled ahead of time: packaged, and the eager loop's result."""

import warnings

import pytest
import torch

import kinetix

pytestmark = pytest.mark.slow  # one compilation: about two minutes


def test_a_reactors_solve_is_packaged_and_gives_the_eager_result(tmp_path, monkeypatch):
    # the reactor's 0-d pressure buffer, viewed as (1,) for the loop, stopped AOTInductor's lowering
    # ("'Constant' object has no attribute 'data'"): every process compiled the solve again instead
    monkeypatch.setenv("KINETIX_CACHE_DIR", str(tmp_path))
    mech = kinetix.load_mechanism("cantera:h2o2.yaml", temperature=1200.0, equivalence_ratio=1.0, fuel="H2")
    times = torch.tensor([0.0, 1e-5, 1e-4, 3e-4, 1e-3], dtype=torch.float64)
    y0 = mech.initial_state().unsqueeze(0)
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = kinetix.integrate_mechanism(mech, y0, times, rtol=1e-6, atol=1e-12, options={"compile": "solve"})
        eager = kinetix.integrate_mechanism(mech, y0, times, rtol=1e-6, atol=1e-12)
    assert not [str(w.message) for w in caught if "ahead of time" in str(w.message)]
    assert list((tmp_path / "solves").glob("*.pt2"))
    torch.testing.assert_close(compiled.ys, eager.ys, rtol=1e-8, atol=1e-20)
    assert compiled.stats.steps.tolist() == eager.stats.steps.tolist()
