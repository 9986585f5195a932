"""Host-side tests of ``hookbox._preload``: packages import through the
host's ``preload`` interface (a fake one here, serving files from a dict),
and what a snapshot cannot hold is reported instead of imported."""

import gc
import os
import socket
import sys
import unittest

from hookbox import _preload
from wit_world.imports import preload


import random

GUARDED = {"random": random, "random.Random": random.Random, "os": os}


class PreloadTest(unittest.TestCase):
    def setUp(self):
        preload.files.clear()
        preload.calls.clear()
        names = set(sys.modules)
        path, meta_path = sys.path[:], sys.meta_path[:]

        def restore():
            for name in set(sys.modules) - names:
                del sys.modules[name]
            sys.path[:], sys.meta_path[:] = path, meta_path
            gc.unfreeze()

        self.addCleanup(restore)

    def serve(self, name, source):
        preload.files[f"/hook/{name}/__init__.py"] = source.encode()

    def test_a_package_imports_through_the_host_as_a_path_import_would(self):
        self.serve("siemfmt", "from . import fields\nVERSION = 'v1'\n")
        preload.files["/hook/siemfmt/fields.py"] = b"NAMES = ('sid',)\n"
        self.assertEqual(_preload.preload(["siemfmt"], "/python", GUARDED).failed, [])
        module = sys.modules["siemfmt"]
        self.assertEqual((module.VERSION, module.fields.NAMES), ("v1", ("sid",)))
        # What a run finds afterwards: a file loader at the real path.
        self.assertEqual(module.__file__, "/hook/siemfmt/__init__.py")
        self.assertEqual(type(module.__spec__.loader).__name__, "SourceFileLoader")
        self.assertIn(("read", "/hook/siemfmt/fields.py"), preload.calls)
        self.assertEqual(preload.calls[0], ("importing", "siemfmt"))
        # The real functions are back.
        self.assertIs(_preload._bootstrap_external._os, sys.modules["posix"])
        self.assertNotIn("/hook", sys.path)

    def test_each_package_that_does_not_import_is_named_and_the_others_import(self):
        self.serve("good", "X = 1\n")
        self.serve("broken", "raise ValueError('no config')\n")
        failed = _preload.preload(["broken", "good", "absent"], "/python", GUARDED).failed
        self.assertEqual(
            failed,
            ["broken: ValueError: no config", "absent: ModuleNotFoundError: No module named 'absent'"],
        )
        self.assertEqual(sys.modules["good"].X, 1)

    def test_reading_the_environment_at_import_is_reported(self):
        self.serve("envy", "import os\nTOKEN = os.environ.get('TOKEN')\n")
        self.assertEqual(_preload.preload(["envy"], "/python", GUARDED).failed, ["envy: reads the environment when imported"])
        # And os.environ is itself again.
        self.assertNotIn("noted", type(os.environ).__getitem__.__name__)

    def test_a_probe_gets_a_refused_bind_and_reaching_out_is_reported(self):
        self.serve(
            "probe",
            "import socket\ns = socket.socket(socket.AF_INET6)\n"
            "try:\n    s.bind(('::1', 0))\n    HAS = True\nexcept OSError:\n    HAS = False\n",
        )
        self.serve(
            "caller",
            "import socket\ntry:\n    socket.socket().connect(('192.0.2.1', 80))\nexcept OSError:\n    pass\n",
        )
        self.serve("keeper", "from socket import socket as kept\n")
        failed = _preload.preload(["probe", "caller", "keeper"], "/python", GUARDED).failed
        self.assertEqual(
            failed,
            ["caller: reaches the network when imported", "keeper: keeps socket.socket from when it was imported (keeper)"],
        )
        self.assertFalse(sys.modules["probe"].HAS)
        self.assertEqual(socket.socket.__module__, "socket")


    def test_what_each_run_relies_on_cannot_be_changed_or_drawn_from(self):
        self.serve("reseed", "import random\nrandom.seed = lambda *a, **k: None\n")
        self.serve(
            "recode",
            "import random\n"
            "def make():\n    __class__ = None\n"
            "    def seed(self, a=None, version=2):\n        __class__\n    return seed\n"
            "random.Random.seed.__code__ = make().__code__\n",
        )
        self.serve("drawer", "import random\nTOKEN = random.getrandbits(64)\n")
        self.serve("holder", "import socket\nclass Keep:\n    sock = socket.socket\n")
        self.serve("proxy", "import socket\nclass ProxySocket(socket.socket):\n    pass\n")
        saved, code = random.seed, random.Random.seed.__code__
        self.addCleanup(setattr, random, "seed", saved)
        self.addCleanup(setattr, random.Random.seed, "__code__", code)
        failed = _preload.preload(["reseed", "recode", "drawer", "holder", "proxy"], "/python", GUARDED).failed
        self.assertEqual(
            failed,
            [
                "reseed: changes random.seed, which each run relies on, when imported",
                "recode: changes random.Random.seed, which each run relies on, when imported",
                "drawer: draws random numbers when imported",
                "proxy: keeps socket.socket from when it was imported (proxy.ProxySocket)",
            ],
        )
        # The stand-in kept past the import makes real sockets.
        made = sys.modules["holder"].Keep.sock()
        self.addCleanup(made.close)
        self.assertIsInstance(made, socket.socket)

    def test_what_would_change_imports_for_every_hook_of_the_folder_is_reported(self):
        sys.modules.pop("colorsys", None)
        self.serve(
            "hijacker",
            "import sys\nclass Finder:\n    @classmethod\n    def find_spec(cls, *args):\n        return None\n"
            "sys.meta_path.insert(0, Finder)\n",
        )
        self.serve("swapper", "import sys, types\nsys.modules['json'] = types.ModuleType('json')\n")
        self.serve("planter", "import sys, types\nsys.modules['colorsys'] = types.ModuleType('colorsys')\n")
        self.serve("statistics", "MEAN = 'the folder'\n")
        # What the standard library registers itself is its own, as its
        # `xml.parsers.expat` registers `pyexpat`'s `model`.
        self.assertNotIn("xml", sys.modules)
        preload.files["/python/xml/__init__.py"] = b""
        preload.files["/python/xml/parsers/__init__.py"] = b""
        preload.files["/python/xml/parsers/expat.py"] = (
            b"import sys, types\nmodel = types.ModuleType('pyexpat.model')\nsys.modules[__name__ + '.model'] = model\n"
        )
        self.serve("parser", "import xml.parsers.expat\n")
        json_module = sys.modules["json"]
        self.addCleanup(sys.modules.__setitem__, "json", json_module)
        failed = _preload.preload(["hijacker", "parser", "planter", "statistics", "swapper"], "/python", GUARDED).failed
        self.assertEqual(
            failed,
            [
                "hijacker: changes how modules are found (sys.meta_path or sys.path_hooks) when imported, for every hook of the folder",
                "planter: puts a module of its own in place of the standard library's colorsys when imported, for every hook of the folder",
                "statistics: puts a module of its own in place of the standard library's statistics when imported, for every hook of the folder",
                "swapper: replaces the module json when imported, for every hook of the folder",
            ],
        )
        # The finder is gone with the step's own.
        self.assertFalse(any(type(f).__name__ == "Finder" or getattr(f, "__name__", "") == "Finder" for f in sys.meta_path))


    def test_what_would_change_the_standard_library_for_every_hook_of_the_folder_is_reported(self):
        self.maxDiff = None
        import codecs, http.client, json, logging, marshal, mimetypes

        saved = (json.dumps, http.client.HTTPConnection.request, marshal.dumps, list(logging.root.handlers))

        def restore():
            json.dumps, http.client.HTTPConnection.request, marshal.dumps, _ = saved
            logging.root.handlers[:] = saved[3]

        self.addCleanup(restore)
        self.serve("dumper", "import json\njson.dumps = lambda *a, **k: 'POISONED'\n")
        self.serve("requester", "import http.client\nhttp.client.HTTPConnection.request = lambda *a, **k: None\n")
        self.serve("marshaller", "import marshal\nmarshal.dumps = lambda *a: b''\n")
        self.serve("auditor", "import sys\nsys.addaudithook(lambda *a: None)\n")
        self.serve("codec", "import codecs\ncodecs.register(lambda name: None)\n")
        self.serve("configurer", "import logging\nlogging.basicConfig()\n")
        # Filling the standard library's own caches is what any import may do.
        self.serve("cacher", "import mimetypes\nmimetypes.guess_type('a.json')\n")
        failed = _preload.preload(
            ["dumper", "requester", "marshaller", "auditor", "codec", "configurer", "cacher"], "/python", GUARDED
        ).failed
        self.assertEqual(
            failed,
            [
                "dumper: replaces or adds json.dumps of the standard library when imported, for every hook of the folder",
                "requester: replaces or adds http.client.HTTPConnection.request of the standard library when imported, for every hook of the folder",
                "marshaller: replaces or adds marshal.dumps of the standard library when imported, for every hook of the folder",
                "auditor: registers an audit hook (sys.addaudithook) when imported, for every hook of the folder",
                "codec: registers a codec search function (codecs.register) when imported, for every hook of the folder",
                "configurer: configures the root logger when imported, for every hook of the folder",
            ],
        )
        # Nothing was registered, and the real functions are back.
        self.assertEqual(codecs.register.__module__, "_codecs")
        self.assertIs(type(sys.addaudithook), type(len))

    def test_what_a_packages_function_imports_from_the_standard_library_is_imported_too(self):
        # ``netrc`` as the standard library's folder serves it here.
        sys.modules.pop("netrc", None)
        preload.files["/python/netrc.py"] = b"SERVED = 'stdlib'\n"
        self.serve(
            "creds",
            "def lookup():\n    from netrc import netrc\n    return netrc\n"
            "class Auth:\n    @staticmethod\n    def fallback():\n        import winreg\n"
            "    @property\n    def mine(self):\n        from . import own\n"
            "def tooling():\n    import this\n",
        )
        preloaded = _preload.preload(["creds"], "/python", GUARDED)
        self.assertEqual(preloaded, _preload.Preloaded([], ["netrc"]))
        self.assertEqual(sys.modules["netrc"].SERVED, "stdlib")
        self.assertIn(("importing", "netrc"), preload.calls)
        # Not there (winreg), the package's own (relative) or never ahead of a call (this).
        for name in ("winreg", "creds.own", "this"):
            self.assertNotIn(name, sys.modules)

    def test_a_module_the_hooks_folder_shadows_or_an_earlier_attempt_could_not_keep_is_not_imported(self):
        for name in ("netrc", "colorsys"):
            sys.modules.pop(name, None)
            preload.files[f"/python/{name}.py"] = b"SERVED = 'stdlib'\n"
        # The hook's folder has its own ``netrc``: a run imports that one.
        preload.files["/hook/netrc.py"] = b"SERVED = 'hook'\n"
        self.serve("creds", "def lookup():\n    import netrc, colorsys\n")
        self.assertEqual(_preload.preload(["creds"], "/python", GUARDED, ["colorsys"]), _preload.Preloaded([], []))
        self.assertNotIn("netrc", sys.modules)
        self.assertNotIn("colorsys", sys.modules)

    def test_a_standard_library_module_that_cannot_be_kept_is_reported_by_its_name(self):
        sys.modules.pop("colorsys", None)
        preload.files["/python/colorsys.py"] = b"import random\nDRAWN = random.random()\n"
        self.serve("shades", "def shade():\n    import colorsys\n")
        preloaded = _preload.preload(["shades"], "/python", GUARDED)
        self.assertEqual(preloaded.failed, ["colorsys: draws random numbers when imported"])
        self.assertEqual(preloaded.imported_when_called, [])


if __name__ == "__main__":
    unittest.main()
