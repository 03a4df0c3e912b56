"""Shared checks for the scenario (molecule/_verify/cluster_checks.py)."""
import os
import sys
sys.path.insert(0, os.path.join(os.environ['MOLECULE_PROJECT_DIRECTORY'], 'molecule', '_verify'))
