"""Compiles the standard library to bytecode, inside the sandbox.

hookbox runs this once per extracted standard library, with the bundled
CPython (so the bytecode matches the interpreter hooks run on) and with the
library mounted writable at /python for this step only; hooks always see it
read-only. ``HOOKBOX_COMPILE_SHARE=i/n`` gives this run every n-th file from
the i-th, so n runs compile the library in parallel.

The bytecode is hash-based and unchecked: the library never changes under
hookbox, so imports read it without looking at the source.
"""

import importlib.util
import os
import sys
from importlib import _bootstrap_external

LIBRARY = "/python"


def sources() -> list:
    """Every module's source file, in a stable order."""
    found = []
    for root, dirs, files in os.walk(LIBRARY):
        dirs[:] = sorted(d for d in dirs if d.isidentifier() and d != "__pycache__")
        found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".py"))
    return found


def compile_one(source: str) -> None:
    """Writes ``source``'s bytecode where imports look for it.

    ``py_compile`` cannot be used: it expects one ``write`` to take the whole
    file, and WASI may take less. A buffered file writes it all.
    """
    with open(source, "rb") as file:
        text = file.read()
    code = compile(text, source, "exec", dont_inherit=True)
    data = _bootstrap_external._code_to_hash_pyc(code, importlib.util.source_hash(text), False)
    target = importlib.util.cache_from_source(source)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    staging = f"{target}.partial"
    with open(staging, "wb") as file:
        file.write(data)
    os.replace(staging, target)


def main() -> int:
    share, shares = (int(part) for part in os.environ["HOOKBOX_COMPILE_SHARE"].split("/"))
    failed = 0
    for source in sources()[share::shares]:
        try:
            compile_one(source)
        except (SyntaxError, ValueError) as error:
            failed += 1
            print(f"{source}: {error}", file=sys.stderr)
    return 0 if failed == 0 else 3


if __name__ == "__main__":
    sys.exit(main())
