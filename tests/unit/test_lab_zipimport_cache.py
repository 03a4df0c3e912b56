"""The lab guest's bytecode cache for Ansible payload zips (tests/lab/guest-python).

Pure logic, on the host: what it caches, that a cached import runs the same code under
the importing zip's file name, and that it leaves other zips and a missing cache alone.
"""
import importlib.util
import os
import sys
import zipfile
import zipimport

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.join(HERE, '..', 'lab', 'guest-python', 'lab_zipimport_cache.py')
ORIGINAL = zipimport._compile_source
SOURCE = b"def where():\n    return __file__\n\ndef answer():\n    return (lambda: 42)()\n"


@pytest.fixture
def cache_module(tmp_path):
    spec = importlib.util.spec_from_file_location('lab_zipimport_cache_under_test', MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)      # no /var/cache/lab-zipimport here: installs nothing
    assert zipimport._compile_source is ORIGINAL
    module.CACHE_DIR = str(tmp_path / 'cache')
    os.mkdir(module.CACHE_DIR)
    module._install()
    yield module
    zipimport._compile_source = ORIGINAL


def import_from(zip_path, name='payload_mod'):
    with zipfile.ZipFile(zip_path, 'w') as zf:
        zf.writestr('%s.py' % name, SOURCE)
    sys.path_importer_cache.pop(str(zip_path), None)
    importer = zipimport.zipimporter(str(zip_path))
    spec = importlib.util.spec_from_loader(name, importer)
    module = importlib.util.module_from_spec(spec)
    importer.exec_module(module)
    return module


def test_payload_code_is_cached_once_and_reused_under_the_new_file_name(cache_module, tmp_path):
    os.makedirs(tmp_path / 'a')
    first = import_from(tmp_path / 'a' / 'ansible_ping_payload.zip')
    assert len(os.listdir(cache_module.CACHE_DIR)) == 1
    os.makedirs(tmp_path / 'b')
    second_zip = tmp_path / 'b' / 'ansible_ping_payload.zip'
    second = import_from(second_zip)
    assert len(os.listdir(cache_module.CACHE_DIR)) == 1
    assert second.answer() == 42 and first.answer() == 42
    expected = os.path.join(str(second_zip), 'payload_mod.py')
    assert second.where.__code__.co_filename == expected
    assert second.answer.__code__.co_consts[1].co_filename == expected   # the nested lambda


def test_other_zips_are_not_cached(cache_module, tmp_path):
    import_from(tmp_path / 'plain.zip')
    assert os.listdir(cache_module.CACHE_DIR) == []


def test_the_off_file_installs_nothing(cache_module, tmp_path):
    open(os.path.join(cache_module.CACHE_DIR, 'off'), 'w').close()
    zipimport._compile_source = ORIGINAL
    cache_module._install()
    assert zipimport._compile_source is ORIGINAL


def test_a_corrupt_cache_entry_is_recompiled(cache_module, tmp_path):
    os.makedirs(tmp_path / 'a')
    import_from(tmp_path / 'a' / 'x_payload.zip')
    (entry,) = os.listdir(cache_module.CACHE_DIR)
    with open(os.path.join(cache_module.CACHE_DIR, entry), 'wb') as handle:
        handle.write(b'not marshal data')
    os.makedirs(tmp_path / 'b')
    assert import_from(tmp_path / 'b' / 'x_payload.zip').answer() == 42
