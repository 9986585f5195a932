"""Compiles the Python sources of a hook's folder to bytecode, inside the sandbox.

hookbox runs this (never a hook) once per version of a hook folder's sources,
with the bundled CPython, the folder read-only at /hook as a hook sees it, and a
fresh staging folder writable at /hook-bytecode, laid out as the runner's
import system looks for it (``hookbox._imports``).

The bytecode is hash-based and checked: each import compares it with the
source, so bytecode that does not match what is in the folder is not used.
"""

import importlib.util
import os
import sys
from importlib import _bootstrap_external

from hookbox._imports import bytecode_location

FOLDER = "/hook"

# What did not compile, a line each (`path<TAB>error`), beside the bytecode:
# hookbox names it when an import that reads one of them cannot be
# snapshotted (the parser rereads a file to show a syntax error's line).
NOT_COMPILED = "/hook-bytecode/not-compiled.txt"


def sources() -> list:
    """Every ``.py`` file under the folder, in a stable order."""
    found = []
    for root, dirs, files in os.walk(FOLDER):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".py"))
    return found


def compile_one(source: str) -> None:
    """Writes ``source``'s bytecode into the staging folder (with a buffered
    file: WASI may take less than a whole ``write``)."""
    with open(source, "rb") as file:
        text = file.read()
    code = compile(text, source, "exec", dont_inherit=True)
    data = _bootstrap_external._code_to_hash_pyc(code, importlib.util.source_hash(text), True)
    target = bytecode_location(source)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as file:
        file.write(data)


def main() -> int:
    failed = []
    errors = 0
    for source in sources():
        try:
            compile_one(source)
        except (SyntaxError, ValueError, OSError, MemoryError) as error:
            # It compiles (or fails) on import instead, as under python3.
            message = " ".join(str(error).split())
            if isinstance(error, (SyntaxError, ValueError)):
                failed.append(f"{source}\t{message}\n")
            print(f"{source}: {message}", file=sys.stderr)
            errors += 1
    if failed:
        with open(NOT_COMPILED, "w") as file:
            file.writelines(failed)
    return 0 if errors == 0 else 3


if __name__ == "__main__":
    sys.exit(main())
