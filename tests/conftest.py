"""Make this checkout importable as ``ansible_collections.lvs.cluster``.

The repo root *is* the collection root, so tests (on the host and in the lab guest)
import the code the way Ansible does, through a namespace path that points here.
"""
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _collection_root():
    # If we already live at .../ansible_collections/lvs/cluster, use that tree.
    parts = REPO.split(os.sep)
    if parts[-3:-1] == ["ansible_collections", "lvs"] and parts[-1] == "cluster":
        return os.sep.join(parts[:-3])
    root = os.path.join(tempfile.gettempdir(), "lvs-cluster-colroot")
    link = os.path.join(root, "ansible_collections", "lvs", "cluster")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.realpath(link) != REPO:
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(REPO, link)
    return root


COLLECTIONS_ROOT = _collection_root()
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
# Keep Ansible's default collection paths too (the lab image has ansible.posix there).
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", os.pathsep.join(
    [COLLECTIONS_ROOT, os.path.expanduser("~/.ansible/collections"), "/usr/share/ansible/collections"]))
