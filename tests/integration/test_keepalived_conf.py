"""The real keepalived (the lab's 2.2.7) accepts every golden keepalived.conf.

tests/unit/test_cluster_ha.py pins each golden file to what the director role's template
renders for an example inventory; here `keepalived -t -f FILE` (the check the role runs
before a file replaces the live one) must exit 0 for each, in a namespace with the
interfaces the files name. A deliberately broken copy must fail, so the check can fail.
"""
import glob
import os
import shlex

import pytest
from lab_guest import guest

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      'unit', 'golden', 'keepalived')
FILES = sorted(glob.glob(os.path.join(GOLDEN, '*.conf')))


@pytest.fixture(scope='module')
def interfaces(tmp_path_factory):
    name = 'lvs-ka-%d' % os.getpid()
    rc, _out, err = guest('ip netns add {0} && ip -n {0} link add eth0 type veth peer name eth1 && '
                          'ip -n {0} link set eth0 up && ip -n {0} link set eth1 up'.format(name))
    try:
        assert rc == 0, err
        yield name
    finally:
        guest('ip netns del %s' % name)


class ConfigTest:  # pylint: disable=too-few-public-methods
    """keepalived -t's exit status and output, as subprocess.run would give them."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def config_test(netns, path):
    return ConfigTest(*guest('ip netns exec %s keepalived -l -t -f %s' % (netns, shlex.quote(path))))


def test_there_are_golden_files():
    assert len(FILES) >= 6, FILES


@pytest.mark.parametrize('path', FILES, ids=os.path.basename)
def test_keepalived_accepts_the_rendered_conf(interfaces, path):
    proc = config_test(interfaces, path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_broken_conf_is_refused(interfaces, tmp_path):
    # The deprecated nb_get_retry instead of retry: keepalived 2.2 reports it (exit 5).
    with open(os.path.join(GOLDEN, 'ha-lb1.conf')) as handle:
        text = handle.read().replace('            retry ', '            nb_get_retry ')
    broken = tmp_path / 'broken.conf'
    broken.write_text(text)
    assert config_test(interfaces, str(broken)).returncode != 0
