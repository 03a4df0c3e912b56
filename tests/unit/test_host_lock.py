"""module_utils/host_lock.py, host-only: one converge at a time on a host. The lock
itself is the kernel's flock(2) on a temporary file; what two site.yml runs at once do to
a cluster is the lab's (molecule/ops)."""
import fcntl
import os

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils.base import LVSError
from ansible_collections.lvs.cluster.plugins.module_utils.host_lock import host_lock


class Clock(object):
    """A clock that moves only when the code sleeps."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def hold(path):
    """Another run holding the lock (its own open file: flock(2) locks conflict)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b'4242\n')
    return fd


def test_a_free_lock_is_taken_at_once_and_names_its_holder(tmp_path):
    path = str(tmp_path / 'lock')
    clock = Clock()
    with host_lock(path, 5, clock, clock.sleep):
        assert open(path).read() == '%d\n' % os.getpid()
        other = os.open(path, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert clock.now == 0.0
    # Released at the end of the block: another run takes it.
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(other)


def test_a_held_lock_is_waited_for_then_refused_naming_the_holder_and_the_way_out(tmp_path):
    path = str(tmp_path / 'lock')
    fd = hold(path)
    clock = Clock()
    with pytest.raises(LVSError) as exc:
        with host_lock(path, 3, clock, clock.sleep):
            pytest.fail('ran while another run held the lock')
    assert 3.0 <= clock.now <= 3.3
    assert str(exc.value) == ('another lvs.cluster run has been changing this host for more than 3 s '
                              '(PID 4242 holds %s); let it end, or find it with: fuser -v %s' % (path, path))
    os.close(fd)


def test_a_lock_let_go_while_waiting_is_taken(tmp_path):
    path = str(tmp_path / 'lock')
    fd = hold(path)
    clock = Clock()

    def sleep(seconds):
        clock.sleep(seconds)
        if clock.now >= 1.0:
            os.close(fd)        # the first run ends after a second
    with host_lock(path, 5, clock, sleep):
        assert open(path).read() == '%d\n' % os.getpid()
    assert 1.0 <= clock.now < 1.5


def test_a_lock_file_that_cannot_be_made_is_a_clear_error(tmp_path):
    path = str(tmp_path / 'no-such-dir' / 'lock')
    with pytest.raises(LVSError) as exc:
        with host_lock(path, 1):
            pytest.fail('ran without the lock')
    assert str(exc.value) == ('cannot open the lock file %s, which keeps lvs.cluster runs on this host one at '
                              'a time: No such file or directory' % path)
