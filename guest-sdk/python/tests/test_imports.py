"""Host-side tests of ``hookbox._imports``: where the hook folder's bytecode
is looked for, and the error a native extension gets."""

import os
import sys
import tempfile
import unittest

from hookbox import _imports


class BytecodeLocationTest(unittest.TestCase):
    def test_files_in_the_hook_folder_map_into_the_bytecode_mount(self):
        tag = sys.implementation.cache_tag
        self.assertEqual(
            _imports.cache_from_source("/hook/requests/api.py"),
            f"/hook-bytecode/hook/requests/__pycache__/api.{tag}.pyc",
        )
        self.assertEqual(
            _imports.cache_from_source("/hook/session-open.runbook.py"),
            f"/hook-bytecode/hook/__pycache__/session-open.runbook.{tag}.pyc",
        )

    def test_other_files_keep_their_own_cache(self):
        self.assertEqual(
            _imports.cache_from_source("/python/json/decoder.py"),
            _imports._cache_from_source("/python/json/decoder.py"),
        )
        self.assertEqual(
            _imports.cache_from_source("/hookish/x.py"),
            _imports._cache_from_source("/hookish/x.py"),
        )


class NativeExtensionTest(unittest.TestCase):
    def test_a_native_extension_is_named(self):
        with tempfile.TemporaryDirectory() as folder:
            native = os.path.join(folder, "speedups.cpython-314-wasm32-wasi.so")
            open(native, "wb").close()
            with self.assertRaises(ModuleNotFoundError) as raised:
                _imports.NativeExtensionFinder.find_spec("speedups", [folder])
            self.assertIn("speedups is a native extension", str(raised.exception))
            self.assertEqual(raised.exception.path, native)

    def test_a_module_that_is_simply_missing_is_left_to_the_usual_error(self):
        with tempfile.TemporaryDirectory() as folder:
            open(os.path.join(folder, "speedups.py.so.txt"), "wb").close()
            self.assertIsNone(_imports.NativeExtensionFinder.find_spec("speedups", [folder]))
            self.assertIsNone(_imports.NativeExtensionFinder.find_spec("other", [folder]))


if __name__ == "__main__":
    unittest.main()
