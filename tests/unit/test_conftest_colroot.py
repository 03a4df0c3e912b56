"""tests/conftest.py: each checkout is importable through a path of its own.

Two checkouts on one machine once shared one symlink in /tmp, so a test run in one could
import the other's code.
"""
import importlib.util
import os

from ansible_collections.lvs.cluster.plugins.module_utils import ipvs_model

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def load_conftest():
    spec = importlib.util.spec_from_file_location("lvs_cluster_tests_conftest",
                                                  os.path.join(REPO, "tests", "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkout(path):
    path.mkdir(parents=True)
    (path / "galaxy.yml").write_text("namespace: lvs\nname: cluster\n")
    return os.path.realpath(str(path))


def linked(root):
    return os.path.realpath(os.path.join(root, "ansible_collections", "lvs", "cluster"))


def test_two_checkouts_get_two_roots(tmp_path):
    conftest = load_conftest()
    temp = str(tmp_path / "tmp")
    os.mkdir(temp)
    first = checkout(tmp_path / "one" / "lvs")
    second = checkout(tmp_path / "two" / "lvs")
    root_first = conftest.collection_root(first, temp)
    root_second = conftest.collection_root(second, temp)
    assert root_first != root_second
    assert linked(root_first) == first and linked(root_second) == second
    # Again, in either order: each keeps its own.
    assert conftest.collection_root(first, temp) == root_first
    assert linked(root_first) == first and linked(root_second) == second
    assert sorted(os.listdir(temp)) == sorted(os.path.basename(r) for r in (root_first, root_second))


def test_a_link_to_somewhere_else_is_replaced(tmp_path):
    conftest = load_conftest()
    temp = str(tmp_path / "tmp")
    os.mkdir(temp)
    repo = checkout(tmp_path / "repo")
    elsewhere = checkout(tmp_path / "elsewhere")
    root = conftest.collection_root(repo, temp)
    link = os.path.join(root, "ansible_collections", "lvs", "cluster")
    os.unlink(link)
    os.symlink(elsewhere, link)
    assert conftest.collection_root(repo, temp) == root
    assert linked(root) == repo
    assert os.listdir(os.path.dirname(link)) == ["cluster"]      # no temporary link left


def test_a_checkout_inside_ansible_collections_is_used_as_it_is(tmp_path):
    # The lab guest mounts the repo at /usr/share/ansible/collections/ansible_collections/lvs/cluster.
    conftest = load_conftest()
    temp = str(tmp_path / "tmp")
    os.mkdir(temp)
    repo = checkout(tmp_path / "collections" / "ansible_collections" / "lvs" / "cluster")
    assert conftest.collection_root(repo, temp) == os.path.realpath(str(tmp_path / "collections"))
    assert os.listdir(temp) == []


def test_this_run_imports_this_checkout():
    assert os.path.realpath(ipvs_model.__file__) == os.path.join(REPO, "plugins", "module_utils", "ipvs_model.py")
