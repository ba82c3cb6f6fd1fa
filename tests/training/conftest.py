import pytest

import kinetix


@pytest.fixture(scope="session")
def robertson_data(tmp_path_factory):
    """A small Robertson dataset: 4 perturbed trajectories on a coarse grid."""
    from kinetix.data.generate import generate_dataset

    path = tmp_path_factory.mktemp("data") / "robertson.h5"
    mech = kinetix.load_mechanism("robertson")
    return generate_dataset(mech, path, trajectories=4, seed=1, progress=False)


TINY = """
checkpoint_every = 5
[network]
width = 4
depth = 2
[curriculum]
fraction = 0.5
start_points = 5
[data]
batch_size = 2
validation_fraction = 0.25
validate_every = 3
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path
