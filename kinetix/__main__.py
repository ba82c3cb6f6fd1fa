"""``python -m kinetix``: the command line (as ``torchrun -m kinetix train ...`` needs)."""

from .cli import run

run()
