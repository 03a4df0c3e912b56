"""Every play of every operator playbook asks for root (become): the modules speak netlink
and write /proc/sys and /etc, and users log in as themselves. test_plan_variable.py runs
site.yml, drain.yml and status.yml and sees each module started through sudo."""
import glob
import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
PLAYBOOKS = sorted(glob.glob(os.path.join(REPO, 'playbooks', '*.yml')))


def test_there_are_operator_playbooks():
    assert [os.path.basename(p) for p in PLAYBOOKS] == ['drain.yml', 'rolling.yml', 'site.yml', 'status.yml']


@pytest.mark.parametrize('path', PLAYBOOKS, ids=os.path.basename)
def test_every_play_becomes_root(path):
    with open(path) as handle:
        plays = yaml.safe_load(handle)
    assert plays
    for play in plays:
        assert play.get('become') is True, (os.path.basename(path), play.get('name'))
        assert play.get('become_user', 'root') == 'root', play.get('name')
