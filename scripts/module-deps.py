#!/usr/bin/env python3
"""Import edges between the source files of this repository, and their cycles.

Why: the architecture is a one-way order of modules (docs/architecture.md).
A cycle between two files means neither can be read, tested or moved
without the other, and a cycle between top-level modules breaks the order.
The compiler forbids cycles only between crates; this script finds them
between files and between top-level modules, so that CI can refuse them.

What it reads: every crate of the repository (`src/lib.rs`, `src/main.rs`,
`crates/*/src/lib.rs`), following `mod name;` declarations from each root.
An edge A -> B means file A names an item of file B through a path:
`use crate::...`, `use super::...`, `use self::...`, a child module
(`use child::...`, `child::f()`), another workspace crate (`servesim::`,
`servesim_core::`), or such a path written inline in code. Paths resolve
through `pub use` re-exports to the file that defines the item, so a
`mod.rs` that only re-exports its children depends on none of them.
Test code (`#[cfg(test)]` items) is left out: tests may reach anywhere,
and they are not part of the order. Comments and string literals are
stripped before reading.

Top-level modules: in the root crate, each `src/X` is module X (`main.rs`
is `main`, the crate's `lib.rs` facade is `lib`); in `crates/servesim-core`,
`time.rs` is `time` and every other file is `core`. So `crate::core::...`
and `crate::time` in the root crate, `servesim_core::...` anywhere, and
`crate::X` inside servesim-core all land in `core` (or `time`).

The order (docs/architecture.md) is written below as ORDER, lowest level
first. A module may depend only on modules of a lower level; modules of one
level are peers and may not depend on each other.

Usage: python3 scripts/module-deps.py [--edges] [--root DIR]
Prints the top-level module edges, then any cycle or edge against the
order, with the file edges behind it. Exit status: 0 when there is no file
cycle and every top-level edge goes down the order, 1 otherwise.
"""

import argparse
import re
import sys
from pathlib import Path

ITEM_DEF = re.compile(r"\b(?:struct|enum|fn|trait|type|const|static|union|macro_rules!)\s+(\w+)")
MOD_DECL = re.compile(r"(?:^|[;}\s])(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")
USE_STMT = re.compile(r"(?:^|[;{}\s])(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
CFG_TEST = re.compile(r"#\[cfg\(test\)\]")
PATH_HEAD = re.compile(r"(?<![\w:])((?:[A-Za-z_]\w*)(?:::[A-Za-z_]\w*)+)")

# The dependency order, lowest level first; names on one level are peers.
ORDER = [
    ["time"],
    ["input"],
    ["core"],
    ["engine"],
    ["workload"],
    ["model"],
    ["metrics"],
    ["report", "scenario"],
    ["distribute"],
    ["sim"],
    ["live"],
    ["plan", "swarm", "bench"],
    ["cli"],
    ["main", "lib"],
]
LEVEL = {name: level for level, names in enumerate(ORDER) for name in names}
CORE_CRATE = "servesim_core"


def strip_comments_and_strings(text):
    """The source with comments, string and char literals blanked (lengths kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and not re.match(r"\w", text[i - 1 : i] or " "):
            hashes = len(re.match(r"r(#*)", text[i:]).group(1))
            end = text.find('"' + "#" * hashes, i + 2 + hashes)
            end = n if end < 0 else end + 1 + hashes
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i : j + 1]))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(?:\\.[^']*|[^\\'])'", text[i:])
            if m:  # a char literal; otherwise a lifetime
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def skip_item(text, i):
    """Index just past the item starting at `i` (ends at `;` or a closed `{}` at depth 0)."""
    depth, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and c == "}":
                return i + 1
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return n


def strip_test_items(text):
    """The code with every `#[cfg(test)]` item blanked."""
    while True:
        m = CFG_TEST.search(text)
        if not m:
            return text
        end = skip_item(text, m.end())
        text = text[: m.start()] + re.sub(r"[^\n]", " ", text[m.start() : end]) + text[end:]


def use_paths(tree):
    """Flattens a use tree (`a::{b, c::{d as e, self}}`) into (segments, alias) pairs."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", tree))
    paths = []

    def walk(prefix, s):
        parts, depth, start = [], 0, 0
        for k, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:k])
                start = k + 1
        parts.append(s[start:])
        for part in filter(None, parts):
            brace = part.find("{")
            if brace >= 0:
                head = [x for x in part[:brace].split("::") if x]
                walk(prefix + head, part[brace + 1 : part.rindex("}")])
            else:
                name, _, alias = part.partition("@")
                segs = [x for x in name.split("::") if x]
                segs = prefix if segs == ["self"] else prefix + segs
                if segs:
                    paths.append((segs, alias or segs[-1]))

    walk([], tree)
    return paths


class Module:
    def __init__(self, crate, path, file, code):
        self.crate, self.path, self.file = crate, path, file
        self.children = {}
        self.items = set(ITEM_DEF.findall(code))
        self.reexports = {}  # name -> segments (relative to this module)
        self.globs = []  # segments of `pub use x::*`
        self.uses = []  # segments of private uses
        for m in USE_STMT.finditer(code):
            for segs, alias in use_paths(m.group(2)):
                if m.group(1):
                    if segs[-1] == "*":
                        self.globs.append(segs[:-1])
                    else:
                        self.reexports[alias] = segs
                else:
                    self.uses.append(segs[:-1] if segs[-1] == "*" else segs)
        body = USE_STMT.sub(" ", code)
        self.inline = [p.split("::") for p in PATH_HEAD.findall(body)]


class Repo:
    def __init__(self, root):
        self.root = root
        self.modules = {}  # (crate, path tuple) -> Module
        self.crates = {}  # crate name -> root module key
        self.mount = {}  # crate name -> module key of the root crate where it is re-exported
        manifest = (root / "Cargo.toml").read_text()
        lib_name = re.search(r'\[package\][^\[]*?name\s*=\s*"([^"]+)"', manifest, re.S).group(1).replace("-", "_")
        roots = []
        if (root / "src/lib.rs").exists():
            roots.append((lib_name, root / "src/lib.rs"))
        if (root / "src/main.rs").exists():
            roots.append(("main", root / "src/main.rs"))
        for toml in sorted(root.glob("crates/*/Cargo.toml")):
            name = re.search(r'name\s*=\s*"([^"]+)"', toml.read_text()).group(1).replace("-", "_")
            roots.append((name, toml.parent / "src/lib.rs"))
        self.lib = lib_name
        for crate, file in roots:
            self.crates[crate] = (crate, ())
            self.load(crate, (), file, file.parent)

    def load(self, crate, path, file, dir_):
        code = strip_test_items(strip_comments_and_strings(file.read_text()))
        module = Module(crate, path, file, code)
        self.modules[(crate, path)] = module
        for name in MOD_DECL.findall(code):
            for child in (dir_ / f"{name}.rs", dir_ / name / "mod.rs"):
                if child.exists():
                    module.children[name] = (crate, path + (name,))
                    self.load(crate, path + (name,), child, dir_ / name)
                    break

    def start(self, key, segs):
        """Where path `segs` starts when written in module `key`, and the rest of it."""
        crate, path = key
        head = segs[0]
        if head == "crate":
            return (crate, ()), segs[1:]
        if head == "self":
            return key, segs[1:]
        if head == "super":
            up = 0
            while up < len(segs) and segs[up] == "super":
                up += 1
            return (crate, path[: max(0, len(path) - up)]), segs[up:]
        if head in self.modules[key].children:
            return self.modules[key].children[head], segs[1:]
        if head in self.crates and head != "main":
            return self.crates[head], segs[1:]
        return None, segs

    def resolve(self, key, segs, seen=None):
        """The module whose file defines the item `segs` names from `key`, or None (external)."""
        seen = seen or set()
        if (key, tuple(segs)) in seen:
            return None
        seen.add((key, tuple(segs)))
        at, rest = self.start(key, segs)
        if at is None:
            return None
        for i, name in enumerate(rest):
            module = self.modules[at]
            if name in module.children:
                at = module.children[name]
                continue
            if name in module.reexports:
                target = module.reexports[name]
                found = self.resolve(at, target, seen)
                if found is None:
                    return None
                if i + 1 < len(rest):
                    return self.resolve(found, ["self"] + rest[i + 1 :], seen)
                return found
            if name not in module.items:
                for glob in module.globs:
                    found = self.resolve(at, glob + [name] + rest[i + 1 :], seen)
                    if found is not None:
                        return found
            return at
        return at

    def file_edges(self):
        edges = {}
        for key, module in self.modules.items():
            targets = set()
            for segs in module.uses + module.inline:
                found = self.resolve(key, segs)
                if found is not None and self.modules[found].file != module.file:
                    targets.add(self.modules[found].file)
            edges[module.file] = targets
        return edges

    def rel(self, file):
        return str(file.relative_to(self.root))

    def top(self, file):
        """The top-level module a file belongs to, as ORDER names it."""
        for (crate, path), module in self.modules.items():
            if module.file == file:
                if crate == CORE_CRATE:
                    return "time" if path[:1] == ("time",) else "core"
                if not path:
                    return "main" if crate == "main" else "lib"
                return path[0]
        raise KeyError(file)


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan), sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def against_order(tops):
    """Top-level edges that do not go down ORDER, and modules ORDER lacks."""
    bad = []
    for a in sorted(tops):
        for b in sorted(tops[a]):
            if a not in LEVEL or b not in LEVEL:
                missing = a if a not in LEVEL else b
                bad.append((a, b, f"`{missing}` is not in ORDER; add it at its level"))
            elif LEVEL[b] >= LEVEL[a]:
                kind = "between peers" if LEVEL[b] == LEVEL[a] else "upward"
                bad.append((a, b, kind))
    return bad


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edges", action="store_true", help="also print every file-level edge")
    parser.add_argument("--root", default=Path(__file__).resolve().parent.parent, type=Path)
    args = parser.parse_args()
    repo = Repo(args.root)
    files = repo.file_edges()
    tops, behind = {}, {}
    for src, dsts in files.items():
        for dst in dsts:
            a, b = repo.top(src), repo.top(dst)
            if a != b:
                tops.setdefault(a, set()).add(b)
                behind.setdefault((a, b), []).append(f"{repo.rel(src)} -> {repo.rel(dst)}")
    print("order (lowest first; peers share a level):")
    print("  " + " -> ".join("/".join(names) for names in ORDER))
    print("top-level module edges:")
    for a in sorted(tops, key=lambda m: (LEVEL.get(m, len(ORDER)), m)):
        print(f"  {a} -> {', '.join(sorted(tops[a], key=lambda m: (LEVEL.get(m, len(ORDER)), m)))}")
    if args.edges:
        print("file edges:")
        for src in sorted(files, key=repo.rel):
            for dst in sorted(files[src], key=repo.rel):
                print(f"  {repo.rel(src)} -> {repo.rel(dst)}")
    file_cycles = cycles({repo.rel(a): {repo.rel(b) for b in bs} for a, bs in files.items()})
    bad = against_order(tops)
    for comp in file_cycles:
        print(f"file cycle: {' <-> '.join(comp)}")
    for a, b, why in bad:
        print(f"edge against the order ({why}): {a} -> {b}")
        for edge in sorted(behind[(a, b)]):
            print(f"    {edge}")
    if file_cycles or bad:
        print(
            f"{len(file_cycles)} file cycle(s), {len(bad)} edge(s) against the order: move the shared "
            "type down to the lowest module that uses it (or, if the order is wrong, change ORDER "
            "and docs/architecture.md together)"
        )
        return 1
    print("no file cycles; every top-level edge goes down the order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
