"""Shared checks for the scenario (molecule/_verify/cluster_checks.py); the load's figures
of each operation are printed at the end of the run (cluster_checks.LOADS)."""
import os
import sys
sys.path.insert(0, os.path.join(os.environ['MOLECULE_PROJECT_DIRECTORY'], 'molecule', '_verify'))
from cluster_checks import pytest_terminal_summary  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
