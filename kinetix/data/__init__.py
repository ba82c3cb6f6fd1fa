"""Trajectory datasets in HDF5 (see ``docs/data-format.md``)."""
