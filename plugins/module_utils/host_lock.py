# -*- coding: utf-8 -*-
# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One converge at a time on a host: an exclusive lock around lvs_host's changes.

Two lvs.cluster.site runs started at once against one cluster (two operators, a CI job
beside a person), or a run during the boot program, would each read the host before the
other changed it, plan the same difference and apply it: both report the same changes
(seen in the lab: both runs "changed" on the director, 3 of 3), and with two different
inventories their writes of the IPVS table, the VIP record and the boot state interleave
into a host neither run planned. With the lock the second run waits for the first, then
reads a host that is already converged. The lock is a flock(2) on a file in /run
(emptied at boot, released by the kernel when its holder dies, so a killed run never
leaves it held).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import errno
import fcntl
import os
import time

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError

LOCK_PATH = '/run/lvs-cluster.lock'
LOCK_WAIT = 300      # seconds: longer than a converge takes, shorter than a hung one


@contextlib.contextmanager
def host_lock(path=LOCK_PATH, wait=LOCK_WAIT, clock=time.monotonic, sleep=time.sleep):
    """Hold PATH's lock for the with-block, waiting up to WAIT seconds for another holder;
    raise LVSError naming the holder's PID when it does not let go in time."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except (IOError, OSError) as exc:
        raise LVSError('cannot open the lock file %s, which keeps lvs.cluster runs on this host one at a time: %s'
                       % (path, exc.strerror or exc))
    try:
        deadline = clock() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if clock() >= deadline:
                raise LVSError('another lvs.cluster run has been changing this host for more than %d s '
                               '(PID %s holds %s); let it end, or find it with: fuser -v %s'
                               % (wait, _holder(fd) or 'unknown', path, path))
            sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, ('%d\n' % os.getpid()).encode())
        yield
    finally:
        os.close(fd)     # releases the lock


def _holder(fd):
    try:
        return os.pread(fd, 32, 0).decode().strip()
    except (IOError, OSError, UnicodeDecodeError):
        return None
