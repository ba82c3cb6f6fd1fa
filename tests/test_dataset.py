"""HDF5 trajectory files: round trip, plain-h5py readability, and refusal of bad files."""

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kinetix
from kinetix.data.writer import write_dataset
from kinetix.errors import DatasetError, KinetixError


def write(path, y=None, **overrides):
    rng = np.random.default_rng(0)
    y = rng.uniform(size=(4, 5, 3)) if y is None else y
    arguments = dict(t=np.linspace(1, 5, y.shape[1]), y=y, y0=y[:, 0], t0=0.0, species=("A", "B", "C"),
                     mechanism="toy", mechanism_sha256="ab" * 32, units={"time": "s", "state": "1"},
                     provenance={"seed": 3}, conditions={"T0": np.arange(y.shape[0], dtype=float)})
    arguments.update(overrides)
    return write_dataset(path, **arguments)


def test_round_trip(tmp_path):
    path = write(tmp_path / "d.h5")
    data = kinetix.load_dataset(path)
    assert data.y.shape == (4, 5, 3) and data.t.shape == (5,) and data.y0.shape == (4, 3)
    assert data.species == ("A", "B", "C")
    assert data.metadata["mechanism"] == "toy" and data.metadata["provenance"]["seed"] == 3
    assert "torch" in data.metadata["provenance"]["versions"]
    assert data.t0 == 0.0
    assert data.conditions["T0"].tolist() == [0, 1, 2, 3]
    y0, y = data[2]
    assert y.shape == (5, 3) and y0.shape == (3,)
    assert len(data.subset([0, 3])) == 2 and data.subset([1]).conditions["T0"].tolist() == [1.0]


def test_readable_with_plain_h5py(tmp_path):
    path = write(tmp_path / "d.h5")
    with h5py.File(path) as f:
        assert f.attrs["format"].decode() == "kinetix-trajectories"
        assert f["y"].shape == (4, 5, 3) and f["y"].compression == "gzip"
        assert [s.decode() for s in f["species"][()]] == ["A", "B", "C"]


def test_refuses_nan_and_leaves_nothing(tmp_path):
    y = np.ones((2, 3, 3))
    y[1, 2, 0] = np.nan
    with pytest.raises(DatasetError, match=r"NaN or infinite value at index \[1, 2, 0\]"):
        write(tmp_path / "d.h5", y=y)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_without_force(tmp_path):
    path = write(tmp_path / "d.h5")
    before = path.read_bytes()
    with pytest.raises(KinetixError, match="already exists; pass --force"):
        write(path, y=np.zeros((1, 5, 3)))
    assert path.read_bytes() == before
    write(path, y=np.zeros((1, 5, 3)), force=True)
    assert kinetix.load_dataset(path).y.shape == (1, 5, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        kinetix.load_dataset(tmp_path / "nope.h5")


def test_truncated_file(tmp_path):
    path = write(tmp_path / "d.h5")
    data = path.read_bytes()
    for keep in (10, len(data) // 3, len(data) - 100):
        cut = tmp_path / f"cut{keep}.h5"
        cut.write_bytes(data[:keep])
        with pytest.raises(DatasetError, match=f"{cut.name}"):
            kinetix.load_dataset(cut)


def test_foreign_hdf5_file(tmp_path):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(3)
    with pytest.raises(DatasetError, match="not a kinetix trajectory file"):
        kinetix.load_dataset(path)


def test_not_hdf5_at_all(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("hello")
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        kinetix.load_dataset(path)


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.__delitem__("y0"), "missing dataset 'y0'"),
    (lambda f: f.attrs.__setitem__("format_version", 99), "format_version 99 is not supported"),
    (lambda f: (f.__delitem__("t"), f.create_dataset("t", data=np.zeros(5))), "strictly increasing"),
    (lambda f: (f.__delitem__("t"), f.create_dataset("t", data=np.arange(4.0))), "inconsistent shapes"),
    (lambda f: (f.__delitem__("y"), f.create_dataset("y", data=np.full((4, 5, 3), np.inf))), "NaN or infinite"),
    (lambda f: (f.__delitem__("species"), f.create_dataset("species", data=np.array([b"A", b"A", b"B"]))), "distinct"),
    (lambda f: f.attrs.__setitem__("provenance", "{oops"), "not valid JSON"),
    (lambda f: f.attrs.__setitem__("t0", 99.0), "attribute 't0'"),
])
def test_inconsistent_contents(tmp_path, edit, message):
    path = write(tmp_path / "d.h5")
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(DatasetError, match=message):
        kinetix.load_dataset(path)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(offset=st.integers(0, 10_000), junk=st.binary(min_size=1, max_size=64))
def test_corrupted_bytes_give_dataset_error_or_valid_data(tmp_path, offset, junk):
    """Overwrite bytes anywhere in a valid file: the reader either returns consistent data or a DatasetError."""
    path = tmp_path / "fuzz.h5"
    if not path.exists():
        write(path)
    original = path.read_bytes()
    position = offset % len(original)
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(original[:position] + junk + original[position + len(junk):])
    try:
        data = kinetix.load_dataset(damaged)
    except DatasetError as error:
        assert "damaged.h5" in str(error)
    else:
        assert data.y.shape[1:] == (len(data.t), len(data.species))
        assert bool(np.isfinite(data.y.numpy()).all())


arrays = st.sampled_from([np.zeros(3), np.zeros((2, 3)), np.zeros((1, 3, 2)), np.array([b"x", b"y"]), np.array([1, 2]),
                          np.full((2, 2, 2), np.nan), np.array(["a"], dtype=object)])


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.dictionaries(st.sampled_from(["t", "y", "y0", "species", "conditions/T"]), arrays),
       st.dictionaries(st.sampled_from(["format", "format_version", "t0", "provenance"]),
                       st.sampled_from(["kinetix-trajectories", 1, 2, 0.0, "{}", "[]", b"x"])))
def test_random_files_give_dataset_error_or_valid_data(tmp_path, datasets, attrs):
    path = tmp_path / "random.h5"
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            if value.dtype == object:
                value = value.astype(h5py.string_dtype())
            f.create_dataset(name, data=value)
        for key, value in attrs.items():
            f.attrs[key] = value
    try:
        data = kinetix.load_dataset(path)
    except DatasetError as error:
        assert "random.h5" in str(error)
    else:
        assert data.y.shape[1:] == (len(data.t), len(data.species))
