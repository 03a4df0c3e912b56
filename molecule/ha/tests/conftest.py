"""Shared checks for the scenario (molecule/_verify/cluster_checks.py); the measured
failover and health-check times are printed at the end of the run."""
import os
import sys
sys.path.insert(0, os.path.join(os.environ['MOLECULE_PROJECT_DIRECTORY'], 'molecule', '_verify'))


def pytest_terminal_summary(terminalreporter):
    measured = getattr(sys.modules.get('test_ha'), 'MEASURED', None)
    if measured:
        terminalreporter.section('ha: measured')
        for what, value in measured.items():
            terminalreporter.write_line('%s: %s' % (what, value))
