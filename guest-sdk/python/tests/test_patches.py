"""The registry of hookbox's changes to the standard library, on the host's
CPython with a fake host: made in order, each once, and the `ssl` one
refused once `http.client` is imported. Run in an interpreter of its own."""

import os
import subprocess
import sys
import unittest

# Saved before the patches replace them.
_POPEN = subprocess.Popen
_EXECUTABLE = sys.executable


class PatchesTest(unittest.TestCase):
    def test_every_change_is_made_once_in_order(self):
        from hookbox import _patches
        from wit_world.imports import process

        _patches.apply()
        _patches.apply()
        self.assertEqual(
            _patches.applied(),
            ("ssl", "socket", "http.client", "subprocess", "os._exit", "process", "threads", "imports", "readiness", "asyncio"),
        )
        import ssl

        self.assertTrue(ssl.OPENSSL_VERSION.startswith("OpenSSL "), ssl.OPENSSL_VERSION)
        self.assertIn("hookbox", ssl.OPENSSL_VERSION)
        import http.client

        self.assertTrue(hasattr(http.client, "HTTPSConnection"))
        with self.assertRaises(process.Exited):
            os._exit(300)
        self.assertEqual(process.exits, [300 & 0xFF])
        # subprocess serves curl and nothing else.
        with self.assertRaises(FileNotFoundError):
            subprocess.run(["ls", "/"], check=False)

    def test_ssl_comes_first_or_not_at_all(self):
        script = (
            "import http.client\n"
            "from hookbox import _patches\n"
            "try:\n"
            "    _patches.apply()\n"
            "except ImportError as error:\n"
            "    print('refused:', error)\n"
        )
        child = _POPEN(
            [_EXECUTABLE, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ),
        )
        out, err = child.communicate(timeout=60)
        self.assertEqual(child.returncode, 0, err)
        self.assertIn(b"refused: hookbox's ssl must replace the standard one", out)


if __name__ == "__main__":
    unittest.main()
