#!/usr/bin/env python3
"""Checks a Rust crate's module structure: no dependency cycle between sibling modules, and no
non-test source file over a line limit.

    python3 infra/scripts/check-modules.py infra/sandbox/src [shared/core/src ...] [--max-lines 800]

For each `src/` directory given:

* Every `.rs` file is mapped to its module path: `lib.rs` is the crate root, `a.rs` and
  `a/mod.rs` are `crate::a`, `a/b.rs` and `a/b/mod.rs` are `crate::a::b`. Inline modules
  (`mod x { ... }`) are modules too. When `lib.rs` exists, `main.rs` and `bin/` are other crates
  (binaries using the library): their lines are checked, their references are not.
* A module depends on another when it names it by a path: `use crate::a::...` (use trees
  `use crate::{a::X, b}` are expanded), `crate::a::...` anywhere in code, or `super::...` /
  `self::...` resolved against the module the path is written in (`super` of `crate::a::b` is
  `crate::a`). A path counts for the deepest known module it names (`crate::a::Item` names
  `crate::a`). Comments, strings and `pub(in crate::...)` visibilities are not references; plain
  paths (`a::X`) are not either: a sibling can only be reached through `crate`, `super` or
  an import that already counts.
* Test code is ignored: any item under `#[cfg(test)]` (in-file `mod tests { ... }` blocks, test
  helpers) and every file of a module declared `#[cfg(test)] mod x;` (and its submodules), or a
  file starting with `#![cfg(test)]`.
* Each dependency `crate::p::a::... -> crate::p::b::...` is an edge `a -> b` between siblings
  at level `crate::p` (the longest common prefix), so cycles are found at every level: between
  top-level modules (`crate::a <-> crate::b`) and inside a module tree
  (`crate::learnamp::x <-> crate::learnamp::y`). A child naming its ancestor (`super::Item` in
  `a/b.rs`) is not a sibling edge. A method call (`data.create_user()`) names no module, so a
  dependency only through methods that another module adds to a type (`impl Data` split over
  files) is not seen: list the modules a file calls into with `use` when it matters.

Prints every cycle (each strongly connected set of siblings, with the references that tie it,
file:line) and every non-test file over the limit (in-file test modules count toward a file's
lines). Exits 1 when anything is found, 0 when the crate is clean, 2 on a usage error.
Python 3 standard library only.
"""

import argparse
import os
import re
import sys
from collections import defaultdict

DEFAULT_MAX_LINES = 800

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def blank_non_code(text):
    """Returns `text` with comments and the contents of string and char literals replaced by
    spaces (newlines kept), so that positions and line numbers stay the same."""
    out = list(text)
    n = len(text)

    def blank(start, end):
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    raw_start = re.compile(r'b?r(#*)"')
    i = 0
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
            continue
        if c == "/" and text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
            continue
        if c in "br" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = raw_start.match(text, i)
            if m:
                close = '"' + m.group(1)
                end = text.find(close, m.end())
                end = n if end < 0 else end
                blank(m.end(), end)
                i = end + len(close)
                continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
            continue
        if c == "'":
            if i + 1 < n and text[i + 1] == "\\":
                j = text.find("'", i + 3)
            elif i + 2 < n and text[i + 2] == "'":
                j = i + 2
            else:
                i += 1  # a lifetime or a label
                continue
            j = n if j < 0 else j
            blank(i + 1, j)
            i = j + 1
            continue
        i += 1
    return "".join(out)


def matching(text, start, open_ch, close_ch):
    """Index just past the bracket that closes the one at `start`."""
    depth = 0
    for k in range(start, len(text)):
        if text[k] == open_ch:
            depth += 1
        elif text[k] == close_ch:
            depth -= 1
            if depth == 0:
                return k + 1
    return len(text)


def item_end(text, start):
    """Index just past the item that starts at (or contains) `start`: its first `;` or its
    braced body, whichever comes first outside parentheses and brackets."""
    depth = 0
    for k in range(start, len(text)):
        ch = text[k]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and ch == ";":
            return k + 1
        elif depth == 0 and ch == "{":
            return matching(text, k, "{", "}")
    return len(text)


def expand_use_tree(tree):
    """`crate::{a::X, b::{self, Y as Z}}` -> [["crate","a","X"], ["crate","b"], ["crate","b","Y"]]."""
    tokens = re.findall(r"::|[{},*]|[A-Za-z_][A-Za-z0-9_]*", tree)
    paths = []

    def parse(pos, prefix):
        segs = []
        while pos < len(tokens):
            t = tokens[pos]
            if t == "::":
                pos += 1
            elif t == "{":
                pos += 1
                while pos < len(tokens) and tokens[pos] != "}":
                    pos = parse(pos, prefix + segs)
                    if pos < len(tokens) and tokens[pos] == ",":
                        pos += 1
                return pos + 1
            elif t in (",", "}"):
                break
            elif t == "as":
                pos += 2  # drop the alias
            elif t == "*":
                pos += 1
            else:
                segs.append(t)
                pos += 1
        full = prefix + segs
        if full and full[-1] == "self":
            full = full[:-1]
        if full:
            paths.append(full)
        return pos

    pos = 0
    while pos < len(tokens):
        pos = parse(pos, [])
        if pos < len(tokens) and tokens[pos] == ",":
            pos += 1
    return paths


def resolve(path, module):
    """Absolute segments of a `crate`/`super`/`self` path written in `module`, or None."""
    if not path:
        return None
    if path[0] == "crate":
        return path[1:]
    if path[0] not in ("super", "self"):
        return None
    base = list(module)
    rest = list(path)
    if rest[0] == "self":
        rest = rest[1:]
    while rest and rest[0] == "super":
        if not base:
            return None
        base = base[:-1]
        rest = rest[1:]
    return base + rest


TOKEN = re.compile(
    r"(?P<attr>#\s*!?\s*\[)"
    r"|(?P<open>\{)|(?P<close>\})"
    r"|(?P<mod>\bmod\s+(?:r#)?(?P<modname>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<modend>[;{]))"
    r"|(?P<use>\buse\s)"
    r"|(?P<path>(?<![\w$])(?:crate|super)(?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)+)"
)
CFG_TEST = re.compile(r"^#\s*(!?)\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]$")


class FileScan:
    def __init__(self):
        self.refs = []  # (module path, resolved path, line, snippet)
        self.modules = set()  # inline modules declared here
        self.test_modules = set()  # modules declared under #[cfg(test)]
        self.whole_file_test = False


def scan_file(code, module):
    """Reads one file's code (comments and strings blanked)."""
    scan = FileScan()
    scopes = [(list(module), 0)]  # (module path, brace depth at which it was opened)
    depth = 0
    pending_test = False
    pos = 0

    def line_of(k):
        return code.count("\n", 0, k) + 1

    def add_ref(path, k, snippet):
        current = scopes[-1][0]
        target = resolve(path, current)
        if target is not None:
            scan.refs.append((tuple(current), tuple(target), line_of(k), " ".join(snippet.split())))

    while True:
        m = TOKEN.search(code, pos)
        if not m:
            break
        kind = next(k for k in ("attr", "open", "close", "mod", "use", "path") if m.group(k))
        if kind == "attr":
            end = matching(code, m.end() - 1, "[", "]")
            attr = CFG_TEST.match(" ".join(code[m.start() : end].split()))
            if attr:
                if attr.group(1) and depth == 0 and len(scopes) == 1:
                    scan.whole_file_test = True
                    return scan
                pending_test = not attr.group(1)
            pos = end
            continue
        if pending_test:
            pending_test = False
            if kind == "mod" and m.group("modend") == ";":
                scan.test_modules.add(tuple(scopes[-1][0] + [m.group("modname")]))
                pos = m.end()
            elif kind == "mod":
                scan.test_modules.add(tuple(scopes[-1][0] + [m.group("modname")]))
                pos = matching(code, m.end() - 1, "{", "}")
            else:
                pos = item_end(code, m.start())
            continue
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
            if len(scopes) > 1 and depth == scopes[-1][1]:
                scopes.pop()
        elif kind == "mod":
            if m.group("modend") == "{":
                child = scopes[-1][0] + [m.group("modname")]
                scan.modules.add(tuple(child))
                scopes.append((child, depth))
                depth += 1
        elif kind == "use":
            end = code.find(";", m.end())
            end = len(code) if end < 0 else end
            tree = code[m.end() : end]
            for path in expand_use_tree(tree):
                add_ref(path, m.start(), "use " + tree.strip())
            pos = end + 1
            continue
        elif kind == "path":
            before = code[max(0, m.start() - 8) : m.start()]
            if not re.search(r"\bin\s*$", before):  # pub(in crate::x) is a visibility
                add_ref([s for s in re.split(r"\s*::\s*", m.group("path"))], m.start(), m.group("path"))
        pos = m.end()
    return scan


def module_of(rel):
    parts = rel.split(os.sep)
    if rel in ("lib.rs", "main.rs"):
        return []
    if parts[-1] == "mod.rs":
        return parts[:-1]
    return parts[:-1] + [parts[-1][:-3]]


def check(src, max_lines):
    """Returns (cycles, long_files): lists of printable findings."""
    files = []
    for root, _dirs, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                full = os.path.join(root, name)
                files.append((os.path.relpath(full, src), full))
    files.sort()
    has_lib = any(rel == "lib.rs" for rel, _ in files)

    scans = {}
    lines = {}
    modules = {()}
    for rel, full in files:
        with open(full, encoding="utf-8") as f:
            text = f.read()
        lines[rel] = len(text.splitlines())
        other_crate = has_lib and (rel == "main.rs" or rel.startswith("bin" + os.sep))
        if other_crate:
            continue
        module = module_of(rel)
        scans[rel] = (tuple(module), scan_file(blank_non_code(text), module))
        modules.add(tuple(module))

    test_modules = set()
    for module, scan in scans.values():
        test_modules |= scan.test_modules
        if scan.whole_file_test:
            test_modules.add(module)
        modules |= scan.modules

    def is_test(module):
        return any(module[:k] in test_modules for k in range(1, len(module) + 1))

    test_files = {rel for rel, (module, _) in scans.items() if is_test(module)}

    # edges[level][(a, b)] = [(file, line, snippet), ...]
    edges = defaultdict(lambda: defaultdict(list))
    for rel, (module, scan) in scans.items():
        if rel in test_files:
            continue
        for current, target, line, snippet in scan.refs:
            while target and target not in modules:
                target = target[:-1]
            common = 0
            while common < min(len(current), len(target)) and current[common] == target[common]:
                common += 1
            if common == len(current) or common == len(target):
                continue  # the module itself, an ancestor or a descendant
            level = current[:common]
            where = edges[level][(current[common], target[common])]
            if (rel, line) not in [(r, l) for r, l, _ in where]:
                where.append((rel, line, snippet))

    cycles = []
    for level in sorted(edges):
        graph = defaultdict(set)
        for a, b in edges[level]:
            graph[a].add(b)
        for component in strongly_connected(graph):
            if len(component) < 2:
                continue
            names = sorted(component)
            label = "::".join(("crate",) + level)
            title = (" <-> " if len(names) == 2 else ", ").join(f"{label}::{n}" for n in names)
            detail = []
            for (a, b), where in sorted(edges[level].items()):
                if a in component and b in component:
                    rel, line, snippet = where[0]
                    more = f" (+{len(where) - 1} more)" if len(where) > 1 else ""
                    detail.append(f"{label}::{a} -> {label}::{b}: {rel}:{line} `{snippet}`{more}")
            cycles.append((title, detail))

    long_files = [
        (rel, lines[rel])
        for rel, _ in files
        if lines[rel] > max_lines and rel not in test_files
    ]
    return cycles, long_files


def strongly_connected(graph):
    """Tarjan's algorithm, iterative; yields sets of nodes."""
    index, low, on_stack, stack, counter = {}, {}, set(), [], [0]
    nodes = set(graph) | {b for bs in graph.values() for b in bs}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                yield component


def main(argv):
    parser = argparse.ArgumentParser(
        description="Reports module cycles and over-long files in Rust crates' src/ directories."
    )
    parser.add_argument("src", nargs="+", help="a crate's src/ directory")
    parser.add_argument("--max-lines", type=int, default=DEFAULT_MAX_LINES)
    args = parser.parse_args(argv)

    failed = False
    for src in args.src:
        if not os.path.isdir(src):
            print(f"check-modules: {src} is not a directory", file=sys.stderr)
            return 2
        cycles, long_files = check(src, args.max_lines)
        if not cycles and not long_files:
            print(f"{src}: OK (no module cycle, no non-test file over {args.max_lines} lines)")
            continue
        failed = True
        print(f"{src}:")
        for title, detail in cycles:
            print(f"  module cycle: {title}")
            for d in detail:
                print(f"    {d}")
        for rel, count in long_files:
            print(f"  file over {args.max_lines} lines: {rel} ({count} lines)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
