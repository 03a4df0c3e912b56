"""Reach the scenario's hosts with the lab's testinfra backend (see lvs_lab.py there)."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ['MOLECULE_PROJECT_DIRECTORY'], 'tests', 'lab', 'plugins', 'testinfra'))
import lvs_lab  # noqa: E402  pylint: disable=wrong-import-position

lvs_lab.register()
