"""Peer solvers (other frameworks) run in the same process as kinetix for benchmark comparisons."""
