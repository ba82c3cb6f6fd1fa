"""Chunked generation over a conditions table: peak times and states independent of the chunking,
and a run interrupted between the two passes continues."""

import pytest
import torch

pytest.importorskip("kinetix_cantera")

import kinetix  # noqa: E402
from kinetix.data import generate  # noqa: E402
from kinetix.data.chunks import partial_folder  # noqa: E402
from kinetix.data.conditions import read_conditions  # noqa: E402

H2_AIR = """
[conditions]
temperature = [1100.0, 1200.0, 1300.0]
equivalence_ratio = [0.5, 2.0]
fuel = "H2"
[times]
first = 1e-6
points_per_decade = 10
front_points = 3
"""


@pytest.mark.slow
def test_chunks_and_an_interruption_between_the_passes_change_nothing(tmp_path, monkeypatch):
    path = tmp_path / "h2.toml"
    path.write_text(H2_AIR)
    conditions = read_conditions(path)
    mechanism = kinetix.load_mechanism("cantera:h2o2.yaml")

    def make(out, chunk):
        return generate.generate_from_conditions(mechanism, conditions, out, chunk=chunk, rtol=1e-6, progress=False)

    whole = kinetix.load_dataset(make(tmp_path / "whole.h5", 6))
    out = tmp_path / "chunked.h5"
    monkeypatch.setattr(generate, "_conditions_chunk", lambda *args: "row 0: interrupted")
    with pytest.raises(kinetix.SolverError, match="interrupted"):
        make(out, 4)
    assert sorted(p.name for p in partial_folder(out).glob("peaks-*")) == ["peaks-000000.npz", "peaks-000001.npz"]
    monkeypatch.undo()
    chunked = kinetix.load_dataset(make(out, 4))
    assert torch.equal(chunked.t, whole.t) and torch.equal(chunked.y, whole.y) and torch.equal(chunked.y0, whole.y0)
    for key in whole.conditions:
        assert torch.equal(chunked.conditions[key], whole.conditions[key]), key
    assert chunked.metadata["provenance"]["conditions"]["rows"] == conditions.rows
