"""The roles' argument specs document every key of lvs_services the planner accepts, and
no other: the spec's options and the planner's key lists are kept equal."""
import os

import pytest
import yaml

from ansible_collections.lvs.cluster.plugins.module_utils import cluster, keepalived

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def services_spec(role):
    with open(os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml')) as handle:
        return yaml.safe_load(handle)['argument_specs']['main']['options']['lvs_services']


@pytest.mark.parametrize('role', ['director', 'realserver', 'router'])
def test_lvs_services_spec_lists_the_planner_keys(role):
    spec = services_spec(role)['options']
    assert sorted(spec) == sorted(cluster.SERVICE_KEYS)
    assert sorted(spec['realservers']['options']) == sorted(cluster.REALSERVER_KEYS)
    assert sorted(spec['match']['options']) == sorted(cluster.MATCH_KEYS)
    assert sorted(spec['healthcheck']['options']) == sorted(keepalived.HEALTHCHECK_DEFAULTS)


def test_the_roles_describe_lvs_services_alike():
    director = services_spec('director')['options']
    assert services_spec('realserver')['options'] == director
    assert services_spec('router')['options'] == director
