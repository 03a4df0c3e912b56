"""Lab guest only: a bytecode cache for Python code imported from a zip file.

Every Ansible module run ships its module_utils in a fresh zip (AnsiballZ) and Python's
zipimport compiles every source file in it on each run: it never writes .pyc files. On a
real host that costs ~0.1 s; in the lab guest, where the CPU is emulated (TCG), compiling
ansible-core 2.19's module_utils costs ~4 s per module run, most of each task's time.

This keeps zipimport's compiled code in CACHE_DIR, keyed by a hash of the source and the
interpreter's bytecode magic: the same source compiles to the same code, so what runs is
what Python would have run (the code's file names are set back to the importing zip's).
Nothing changes for files outside an Ansible payload zip. lab_zipimport_cache.pth loads it
at interpreter start; CACHE_DIR is one guest directory bound into every lab host, so the
first module run of a session pays the compile once for all hosts. docs/develop/lab.md
says what it saves.
"""
# Only what interpreter start-up has already loaded: every Python start in the guest reads
# this file, and hashlib (OpenSSL) is imported only when an Ansible payload is compiled.
import marshal
import os
import zipimport
from importlib._bootstrap_external import MAGIC_NUMBER

CACHE_DIR = "/var/cache/lab-zipimport"
_MARKER = "_payload.zip"          # AnsiballZ's ansible_MODULE_payload.zip


def _with_filename(code, filename):
    consts = tuple(_with_filename(c, filename) if isinstance(c, type(code)) else c
                   for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _install():
    compile_source = getattr(zipimport, "_compile_source", None)
    # The "off" file lets bench/module_cache.py measure with and without, on one guest.
    if compile_source is None or not os.path.isdir(CACHE_DIR) or os.path.exists(CACHE_DIR + "/off"):
        return

    def cached_compile_source(pathname, source):
        if _MARKER not in pathname:
            return compile_source(pathname, source)
        import hashlib
        key = hashlib.sha256(MAGIC_NUMBER + source).hexdigest()
        path = os.path.join(CACHE_DIR, key)
        try:
            with open(path, "rb") as fh:
                code = marshal.loads(fh.read())
        except (OSError, EOFError, ValueError, TypeError):
            code = compile_source(pathname, source)
            tmp = "%s.%d.tmp" % (path, os.getpid())
            try:
                with open(tmp, "wb") as fh:
                    fh.write(marshal.dumps(code))
                os.replace(tmp, path)
            except OSError:
                pass
            return code
        return code if code.co_filename == pathname else _with_filename(code, pathname)

    zipimport._compile_source = cached_compile_source


_install()
