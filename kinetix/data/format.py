"""The HDF5 layout of a trajectory dataset: names and version shared by the reader and the writer."""

FORMAT_NAME = "kinetix-trajectories"
FORMAT_VERSION = 1
REQUIRED = ("t", "y", "y0", "species")
