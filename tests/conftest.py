"""Make this checkout importable as ``ansible_collections.lvs.cluster``.

The repo root *is* the collection root, so tests (on the host and in the lab guest)
import the code the way Ansible does, through a namespace path that points here.

A checkout that is not already at .../ansible_collections/lvs/cluster is reached through
a symlink in a directory of its own under the temp dir, named after the checkout's real
path (and the user): two checkouts on one machine never import each other's code.
"""
import hashlib
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def collection_root(repo, tmpdir=None):
    """The directory that holds ansible_collections/lvs/cluster -> REPO."""
    # If we already live at .../ansible_collections/lvs/cluster (the lab guest, an
    # installed collection), use that tree.
    parts = repo.split(os.sep)
    if parts[-3:] == ["ansible_collections", "lvs", "cluster"]:
        return os.sep.join(parts[:-3])
    owner = getattr(os, "getuid", lambda: 0)()
    tag = hashlib.sha256(("%d:%s" % (owner, repo)).encode("utf-8")).hexdigest()[:12]
    root = os.path.join(tmpdir or tempfile.gettempdir(), "lvs-cluster-colroot-" + tag)
    link = os.path.join(root, "ansible_collections", "lvs", "cluster")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.realpath(link) != repo:
        # Replace atomically: a concurrent test run of the same checkout never sees no link.
        tmp_link = "%s.%d" % (link, os.getpid())
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        os.symlink(repo, tmp_link)
        os.replace(tmp_link, link)
    return root


COLLECTIONS_ROOT = collection_root(REPO)
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
# Keep Ansible's default collection paths too (the lab image has ansible.posix there).
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", os.pathsep.join(
    [COLLECTIONS_ROOT, os.path.expanduser("~/.ansible/collections"), "/usr/share/ansible/collections"]))
