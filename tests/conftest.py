import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # one thread per worker: oversubscribed cores make tiny torch ops 10-50x slower

# solve packages built by the tests go to a folder of this run, not the user's cache
os.environ.setdefault("KINETIX_CACHE_DIR", tempfile.mkdtemp(prefix="kinetix-tests-"))

REPO = Path(__file__).resolve().parent.parent
MECHANISMS = REPO / "mechanisms"


@pytest.fixture
def robertson():
    import kinetix

    return kinetix.load_mechanism(MECHANISMS / "robertson.yaml")


@pytest.fixture
def pollu():
    import kinetix

    return kinetix.load_mechanism(MECHANISMS / "pollu.yaml")


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
