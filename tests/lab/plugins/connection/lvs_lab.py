# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection to a lab host (namespaces inside the lab guest), like a container connection.

Test infrastructure only: it lives under tests/lab and is not part of the collection.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: lvs_lab
short_description: Run tasks inside an lvs.cluster lab host (namespaces in the lab guest)
description:
  - Enters the host's mount, UTS, IPC, network and PID namespaces and its root with nsenter.
  - Files are streamed through stdin, so no path is shared between controller and host.
options:
  remote_addr:
    description: The lab host's name.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
'''

import os
import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.plugins.connection import ConnectionBase

STATE = "/run/lab/hosts"


class Connection(ConnectionBase):
    transport = "lvs_lab"
    has_pipelining = True
    default_user = "root"

    def _nsenter(self):
        name = self.get_option("remote_addr")
        try:
            with open(os.path.join(STATE, name, "pid")) as fh:
                pid = fh.read().strip()
        except OSError:
            raise AnsibleConnectionFailure("lab host %r is not running (lab ls)" % name)
        return ["nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"]

    def _connect(self):
        self._nsenter()
        self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        argv = self._nsenter() + ["/bin/sh", "-c", cmd]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd="/")
        stdout, stderr = proc.communicate(in_data)
        return proc.returncode, stdout, stderr

    def put_file(self, in_path, out_path):
        super(Connection, self).put_file(in_path, out_path)
        with open(in_path, "rb") as fh:
            rc, dummy, err = self.exec_command("cat > %s" % shlex.quote(out_path), in_data=fh.read())
        if rc != 0:
            raise AnsibleError("could not copy %s to lab host %s: %s"
                               % (in_path, out_path, err.decode(errors="replace")))

    def fetch_file(self, in_path, out_path):
        super(Connection, self).fetch_file(in_path, out_path)
        rc, data, err = self.exec_command("cat %s" % shlex.quote(in_path))
        if rc != 0:
            raise AnsibleError("could not fetch %s from lab host: %s"
                               % (in_path, err.decode(errors="replace")))
        with open(out_path, "wb") as fh:
            fh.write(data)

    def close(self):
        self._connected = False
