"""kinetix data merge / split / subset / info / export: rows, provenance, refusals, atomicity."""

import csv
import json

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kinetix
from kinetix.cli import main
from kinetix.data.pipeline import (
    dataset_info, export_dataset, merge_datasets, parse_ranges, split_dataset, subset_dataset,
)
from kinetix.data.writer import write_dataset
from kinetix.errors import ConfigError, DatasetError, KinetixError


def make(path, rows=6, seed=0, sha="ab" * 32, times=5):
    rng = np.random.default_rng(seed)
    y = rng.uniform(size=(rows, times, 3))
    write_dataset(path, t=np.linspace(1, 5, times), y=y, y0=y[:, 0], t0=0.0, species=("A", "B", "C"), mechanism="toy",
                  mechanism_sha256=sha, units={"time": "s", "state": "1"}, provenance={"seed": seed},
                  conditions={"T0": rng.uniform(900, 1500, rows), "P": np.full(rows, 1e5)})
    return path


def test_merge_concatenates_rows_and_records_sources(tmp_path):
    a, b = make(tmp_path / "a.h5"), make(tmp_path / "b.h5", rows=4, seed=1)
    merged = kinetix.load_dataset(merge_datasets([a, b], tmp_path / "m.h5"))
    first, second = kinetix.load_dataset(a), kinetix.load_dataset(b)
    assert np.array_equal(merged.y.numpy(), np.concatenate([first.y.numpy(), second.y.numpy()]))
    assert np.array_equal(merged.y0.numpy(), np.concatenate([first.y0.numpy(), second.y0.numpy()]))
    assert np.array_equal(merged.conditions["T0"].numpy(),
                          np.concatenate([first.conditions["T0"].numpy(), second.conditions["T0"].numpy()]))
    provenance = merged.metadata["provenance"]
    assert provenance["operation"] == "merge" and [s["path"] for s in provenance["sources"]] == [str(a), str(b)]
    assert [s["provenance"]["seed"] for s in provenance["sources"]] == [0, 1]
    assert merged.metadata["mechanism_sha256"] == "ab" * 32 and merged.t0 == 0.0


def test_merge_refuses_other_mechanisms_unless_asked_and_other_times(tmp_path):
    a, b = make(tmp_path / "a.h5"), make(tmp_path / "b.h5", sha="cd" * 32)
    with pytest.raises(DatasetError, match="different mechanisms .*allow-different-mechanisms"):
        merge_datasets([a, b], tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()
    assert len(kinetix.load_dataset(merge_datasets([a, b], tmp_path / "m.h5", allow_different_mechanisms=True))) == 12
    with pytest.raises(DatasetError, match="different output times"):
        merge_datasets([a, make(tmp_path / "c.h5", times=4)], tmp_path / "n.h5")
    with pytest.raises(KinetixError, match="already exists; pass --force"):
        merge_datasets([a, a], tmp_path / "m.h5")


def test_split_is_a_reproducible_partition(tmp_path):
    source = make(tmp_path / "d.h5", rows=20)
    parts = split_dataset(source, {"train": 0.6, "validation": 0.2, "test": 0.2}, seed=3, out_dir=tmp_path)
    loaded = {name: kinetix.load_dataset(path) for name, path in parts.items()}
    assert [len(data) for data in loaded.values()] == [12, 4, 4]
    whole = kinetix.load_dataset(source)
    keys = [tuple(row) for data in loaded.values() for row in data.y0.numpy()]
    assert sorted(keys) == sorted(tuple(row) for row in whole.y0.numpy())  # disjoint and complete
    (tmp_path / "again").mkdir()
    again = split_dataset(source, {"train": 0.6, "validation": 0.2, "test": 0.2}, seed=3, out_dir=tmp_path / "again")
    assert all(np.array_equal(kinetix.load_dataset(again[name]).y.numpy(), data.y.numpy())
               for name, data in loaded.items())
    other = split_dataset(source, {"train": 0.6, "validation": 0.2, "test": 0.2}, seed=4, force=True)
    assert not np.array_equal(kinetix.load_dataset(other["test"]).y.numpy(), loaded["test"].y.numpy())
    assert loaded["test"].metadata["provenance"]["part"] == "test" and \
        loaded["test"].metadata["provenance"]["seed"] == 3


def test_split_refuses_bad_fractions_and_writes_nothing(tmp_path):
    source = make(tmp_path / "d.h5", rows=3)
    with pytest.raises(ConfigError, match="add up to 1"):
        split_dataset(source, {"train": 0.5, "test": 0.4})
    with pytest.raises(ConfigError, match="would hold no rows"):
        split_dataset(source, {"train": 0.9, "test": 0.1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_subset_keeps_rows_in_the_ranges(tmp_path):
    source = make(tmp_path / "d.h5", rows=30)
    out = subset_dataset(source, tmp_path / "s.h5", {"T0": (1000.0, 1300.0)})
    whole, part = kinetix.load_dataset(source), kinetix.load_dataset(out)
    keep = (whole.conditions["T0"] >= 1000) & (whole.conditions["T0"] <= 1300)
    assert 0 < int(keep.sum()) < 30
    assert np.array_equal(part.y.numpy(), whole.y[keep].numpy())
    assert part.metadata["provenance"]["ranges"] == {"T0": [1000.0, 1300.0]}
    with pytest.raises(ConfigError, match="no condition\\(s\\) X; it has P, T0"):
        subset_dataset(source, tmp_path / "x.h5", {"X": (0, 1)})
    with pytest.raises(DatasetError, match="no row has T0 in"):
        subset_dataset(source, tmp_path / "x.h5", {"T0": (0, 1)})
    assert not (tmp_path / "x.h5").exists()


@given(st.text(alphabet="abcT_0", min_size=1, max_size=5), st.floats(-1e6, 1e6), st.floats(0, 1e6))
def test_parse_ranges(name, low, width):
    assert parse_ranges([f"{name}={low!r}:{low + width!r}"]) == {name: (low, low + width)}
    assert parse_ranges([f"{name}=:{low!r}"]) == {name: (-np.inf, low)}


@pytest.mark.parametrize("item", ["T", "T=1", "=1:2", "T=a:2"])
def test_parse_ranges_refuses(item):
    with pytest.raises(ConfigError, match="expected NAME=LOW:HIGH"):
        parse_ranges([item])


def test_info_matches_the_data(tmp_path):
    source = make(tmp_path / "d.h5", rows=9)
    info, data = dataset_info(source), kinetix.load_dataset(source)
    assert info["trajectories"] == 9 and info["times"] == 5 and info["complete"]
    assert info["species"]["B"] == [float(data.y[..., 1].min()), float(data.y[..., 1].max())]
    assert info["conditions"]["T0"] == [float(data.conditions["T0"].min()), float(data.conditions["T0"].max())]


def test_export_csv_round_trip_with_provenance(tmp_path):
    source = make(tmp_path / "d.h5", rows=4)
    out = export_dataset(source, tmp_path / "d.csv")
    data = kinetix.load_dataset(source)
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["trajectory", "time", "A", "B", "C", "P", "T0"] and len(rows) == 1 + 4 * 5
    table = np.array(rows[1:], dtype=float)
    assert np.array_equal(table[:, 2:5], data.y.numpy().reshape(-1, 3))
    assert np.array_equal(table[:, 1], np.tile(data.t.numpy(), 4))
    assert np.array_equal(table[:, 6], np.repeat(data.conditions["T0"].numpy(), 5))
    assert json.loads((tmp_path / "d.csv.json").read_text())["source"]["provenance"]["seed"] == 0


def test_export_parquet(tmp_path):
    source = make(tmp_path / "d.h5", rows=4)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        with pytest.raises(ConfigError, match="needs pyarrow"):
            export_dataset(source, tmp_path / "d.parquet")
        assert not (tmp_path / "d.parquet").exists()
        return
    table = pq.read_table(export_dataset(source, tmp_path / "d.parquet"))
    data = kinetix.load_dataset(source)
    assert np.array_equal(np.stack([table[name].to_numpy() for name in "ABC"], axis=1), data.y.numpy().reshape(-1, 3))
    assert json.loads(table.schema.metadata[b"kinetix"])["source"]["rows"] == 4


def test_verbs_refuse_unfinished_and_damaged_files(tmp_path):
    source = make(tmp_path / "d.h5")
    with h5py.File(source, "r+") as f:
        f.attrs["provenance"] = np.bytes_(json.dumps({"chunk": [0, 6]}).encode())
    with pytest.raises(DatasetError, match="unfinished dataset"):
        dataset_info(source)
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        merge_datasets([tmp_path / "bad.h5", source], tmp_path / "m.h5")


def test_cli(tmp_path, capsys):
    source = make(tmp_path / "d.h5", rows=10)
    assert main(["data", "split", str(source), "--fractions", "a=0.5,b=0.5", "--seed", "1"]) == 0
    assert main(["data", "merge", str(tmp_path / "d-a.h5"), str(tmp_path / "d-b.h5"), "-o", str(tmp_path / "m.h5")]) == 0
    assert main(["data", "subset", str(tmp_path / "m.h5"), "--where", "T0=:1200", "-o", str(tmp_path / "s.h5")]) == 0
    assert main(["data", "export", str(tmp_path / "s.h5"), "-o", str(tmp_path / "s.csv")]) == 0
    assert main(["data", "info", str(tmp_path / "m.h5"), "--json"]) == 0
    assert '"operation": "merge"' in capsys.readouterr().out
    assert main(["data", "split", str(source), "--fractions", "a=x"]) == 1
    assert "expected NAME=FRACTION" in capsys.readouterr().err
