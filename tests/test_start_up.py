"""Every process that loads a mechanism pays for what the plugins import: the heavy libraries that
only some commands need (plots, scipy's reference solvers and splines, torchdiffeq) wait until used."""

import json
import subprocess
import sys

DEFERRED = ("matplotlib", "scipy", "torchdiffeq")

LOAD = f"""
import json, sys, kinetix
kinetix.load_mechanism("robertson")
print(json.dumps([name for name in {DEFERRED!r} if name in sys.modules]))
"""


def test_loading_a_mechanism_does_not_import_plotting_or_scipy():
    loaded = subprocess.run([sys.executable, "-c", LOAD], check=True, capture_output=True, text=True).stdout
    assert json.loads(loaded.splitlines()[-1]) == []
