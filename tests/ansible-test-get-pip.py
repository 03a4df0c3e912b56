"""Stand-in for ansible-test's get-pip bootstrap script.

ansible-test downloads get-pip.py from a CI file host that our machines cannot reach
(only the package registries are reachable) and caches it as
~/.ansible/test/cache/get_pip_<version>.py; tests/ansible-sanity puts this file there instead.
It does what get-pip does, from the registry: bootstrap pip with ensurepip, then install
the pip version (and any other requirement) ansible-test passes on the command line.
"""
import ensurepip
import os
import subprocess
import sys

caller_env = dict(os.environ)
ensurepip.bootstrap()
# ensurepip sets PIP_CONFIG_FILE=/dev/null in this process; the real install must see the
# machine's pip configuration (index, certificates) like any other pip run.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args,
                         env=caller_env))
