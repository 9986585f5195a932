"""Lists what the hookbox binary bundles, with licences: every crate it links
(its normal dependencies, from `cargo metadata` on stdin) and the CPython
version given as the first argument."""

import json
import sys


def main() -> None:
    meta = json.load(sys.stdin)
    packages = {package["id"]: package for package in meta["packages"]}
    nodes = {node["id"]: node for node in meta["resolve"]["nodes"]}
    seen, todo = set(), [meta["resolve"]["root"]]
    while todo:
        for dep in nodes[todo.pop()]["deps"]:
            normal = any(kind["kind"] is None for kind in dep["dep_kinds"])
            if normal and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    print("hookbox bundles these crates (name version: licence):\n")
    for package in sorted((packages[i] for i in seen), key=lambda p: (p["name"], p["version"])):
        print(f"{package['name']} {package['version']}: {package.get('license') or 'see its repository'}")
    print(f"\nand CPython {sys.argv[1]} for WASI (PSF-2.0) with its standard library, in the runner.")


main()
