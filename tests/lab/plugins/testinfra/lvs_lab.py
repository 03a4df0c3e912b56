"""Testinfra backend for lab hosts, and the host spec a scenario's tests should use.

Testinfra reaches a host with an unknown Ansible connection (lvs_lab) by starting the
`ansible` CLI for every command: ~10 s each under emulation.  This backend runs the
command with `lab exec NAME` (nsenter) instead.  With LVS_MOLECULE_HOSTS=podman the same
tests use testinfra's own podman backend.

In a scenario's tests/conftest.py:

    sys.path.insert(0, <repo>/tests/lab/plugins/testinfra); import lvs_lab
    lvs_lab.register()

and in the tests: testinfra_hosts = [lvs_lab.hostspec("client")],
host.get_host(lvs_lab.hostspec("director")).
"""
import os

import testinfra.backend
from testinfra.backend import base

LAB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   'bin', 'lab')


class LabBackend(base.BaseBackend):
    NAME = 'lvs-lab'

    def __init__(self, name, *args, **kwargs):
        self.name = name
        super().__init__(name, *args, **kwargs)

    def run(self, command, *args, **kwargs):
        cmd = self.get_command(command, *args)
        out = self.run_local('%s exec %s /bin/sh -c %s', LAB, self.name, cmd)
        out.command = self.encode(cmd)
        return out


def register():
    testinfra.backend.BACKENDS.setdefault('lvs-lab', __name__ + '.LabBackend')


def hostspec(name):
    flavour = os.environ.get('LVS_MOLECULE_HOSTS') or 'lab'
    if flavour == 'podman':    # molecule/_podman/create.yml names them so
        return 'podman://lvs-%s-%s' % (os.environ['MOLECULE_SCENARIO_NAME'], name)
    return 'lvs-lab://' + name   # URL schemes have no underscores
