"""kinetix plugin: the stiff benchmark mechanisms in the repository's ``mechanisms/`` folder.

Every ``*.yaml`` there (Robertson's problem, the POLLU air-pollution model) is registered under
its file name, e.g. ``kinetix.load_mechanism("robertson")``.
"""

from functools import partial
from importlib.resources import files

import kinetix
from kinetix.mass_action import load_mass_action

__version__ = "0.1.0"

MECHANISM_DIR = files(__name__) / "data"


@kinetix.hookimpl
def register_mechanisms(register):
    for path in sorted(MECHANISM_DIR.iterdir(), key=lambda p: p.name):
        if path.name.endswith(".yaml"):
            name = path.name[: -len(".yaml")]
            register(name, partial(load_mass_action, str(path)), description=f"mass-action mechanism {path.name}")
