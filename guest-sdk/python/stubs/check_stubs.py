"""Checks that the type stubs say what the SDK really defines.

For every stub module under ``stubs/hookbox`` and its SDK module under
``sdk/hookbox``: each public function, class and method has the same
parameters (names, order, kinds and which have defaults) in both, and neither
has a public one the other lacks. Annotations are the stubs' business and are
not compared. Prints every difference and exits 1 if there is any.

    python3 check_stubs.py STUBS_DIR SDK_DIR
"""

import ast
import sys
from pathlib import Path


def parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The parameters as ``kind name[=]``, in order."""
    args = function.args
    positional = args.posonlyargs + args.args
    first_default = len(positional) - len(args.defaults)
    shape = [
        f"{'positional' if i < len(args.posonlyargs) else 'any'} {a.arg}{'=' if i >= first_default else ''}"
        for i, a in enumerate(positional)
    ]
    if args.vararg:
        shape.append(f"*{args.vararg.arg}")
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        shape.append(f"keyword {arg.arg}{'=' if default is not None else ''}")
    if args.kwarg:
        shape.append(f"**{args.kwarg.arg}")
    return shape


def public_api(tree: ast.Module) -> dict[str, list[str] | None]:
    """Public functions and methods with their parameters; classes as None."""
    api: dict[str, list[str] | None] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            api[node.name] = parameters(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            api[node.name] = None
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    not item.name.startswith("_") or item.name == "__init__"
                ):
                    api[f"{node.name}.{item.name}"] = parameters(item)
    return api


def main() -> int:
    stubs_dir, sdk_dir = Path(sys.argv[1]), Path(sys.argv[2])
    differences = []
    stubs = sorted(stubs_dir.glob("*.pyi"))
    for stub in stubs:
        module = sdk_dir / f"{stub.stem}.py"
        if not module.is_file():
            differences.append(f"{stub.name}: no {module.name} in the SDK")
            continue
        declared = public_api(ast.parse(stub.read_text()))
        defined = public_api(ast.parse(module.read_text()))
        for name in sorted(declared.keys() | defined.keys()):
            if name not in defined:
                differences.append(f"{stub.name}: {name} is not in the SDK")
            elif name not in declared:
                differences.append(f"{stub.name}: {name} is in the SDK but not the stub")
            elif declared[name] != defined[name]:
                differences.append(
                    f"{stub.name}: {name} takes {defined[name]} in the SDK, {declared[name]} in the stub"
                )
    for difference in differences:
        print(difference)
    print(f"checked {len(stubs)} stub modules: {len(differences)} differences")
    return 1 if differences or not stubs else 0


if __name__ == "__main__":
    sys.exit(main())
