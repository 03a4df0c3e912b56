"""Put the stand-in ansible.posix.json callback on the collections path (test support).

The harness asks for ansible.builtin.json, which ansible-core 2.19 redirects to the
ansible.posix collection; the lab guest has ansible-core only.  Importing this module
makes the redirect land on tests/integration/support.  Harmless where ansible.posix is
installed: an earlier path entry wins.
"""
import os

SUPPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'support')
_paths = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
if SUPPORT not in _paths:
    os.environ['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join(_paths + [SUPPORT])
