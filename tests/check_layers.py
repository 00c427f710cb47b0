#!/usr/bin/env python3
"""Fails when source files of a program call each other in a circle.

Reads the objects of one folder with `nm`: a file that uses a global symbol
another file defines calls that file. Every circle in that graph (two files
calling each other, directly or around a loop) is printed with the symbols
that make each step of it, and the exit status is 1. With --graph, the files
are printed bottom layer first with what each one calls.

Calls made through function pointers (callbacks) are not edges: that is how a
lower layer hands work up without depending on the layer above.

  tests/check_layers.py build/obj/psyche                     # psyche's agent (no TUI, no main)
  tests/check_layers.py build/obj/psyche --only 'tui*'       # the TUI files only
  tests/check_layers.py build/obj/psyche --graph
"""
import argparse
import fnmatch
import os
import subprocess
import sys


def symbols(obj):
    """(defined, undefined) global symbol sets of one object file."""
    out = subprocess.run(["nm", "-g", obj], check=True, capture_output=True, text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] not in ("U", "w", "v"):
            defined.add(parts[2])
    return defined, undefined


def call_graph(objs):
    """{file: {callee file: sorted symbols}} between the given objects."""
    syms = {name: symbols(path) for name, path in objs.items()}
    owner = {}
    for name, (defined, _) in syms.items():
        for s in defined:
            owner[s] = name
    graph = {name: {} for name in objs}
    for name, (_, undefined) in syms.items():
        for s in undefined:
            callee = owner.get(s)
            if callee and callee != name:
                graph[name].setdefault(callee, []).append(s)
    for edges in graph.values():
        for callee in edges:
            edges[callee].sort()
    return graph


def circles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def layers(graph):
    """Files bottom first: a file comes after everything it calls."""
    order, done = [], set()

    def place(v, path):
        if v in done or v in path:
            return
        for w in sorted(graph[v]):
            place(w, path | {v})
        done.add(v)
        order.append(v)

    for v in sorted(graph):
        place(v, frozenset())
    return order


def select(objdir, only, exclude):
    objs = {}
    for f in sorted(os.listdir(objdir)):
        if not f.endswith(".o"):
            continue
        stem = f[:-2]
        if only and not any(fnmatch.fnmatch(stem, p) for p in only):
            continue
        if any(fnmatch.fnmatch(stem, p) for p in exclude):
            continue
        objs[stem + ".c"] = os.path.join(objdir, f)
    return objs


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("objdir", help="folder of the objects (build/obj/psyche)")
    ap.add_argument("--only", action="append", default=[], help="file stems to check (glob; repeatable)")
    ap.add_argument("--exclude", action="append", default=None,
                    help="file stems to leave out (glob; repeatable; default: tui* and main)")
    ap.add_argument("--graph", action="store_true", help="print the layers, bottom first")
    args = ap.parse_args(argv)
    exclude = args.exclude if args.exclude is not None else ([] if args.only else ["tui*", "main"])
    if not os.path.isdir(args.objdir):
        print("check_layers: %s is not a folder of objects; build first (make)" % args.objdir, file=sys.stderr)
        return 2
    objs = select(args.objdir, args.only, exclude)
    if not objs:
        print("check_layers: no objects selected in %s" % args.objdir, file=sys.stderr)
        return 2
    graph = call_graph(objs)
    if args.graph:
        for f in layers(graph):
            print("%-16s -> %s" % (f, ", ".join(sorted(graph[f])) or "(nothing)"))
    comps = circles(graph)
    for comp in comps:
        print("circle between %s:" % ", ".join(comp))
        for a in comp:
            for b in comp:
                if b in graph[a]:
                    print("  %s calls %s: %s" % (a, b, ", ".join(graph[a][b][:6])))
    if comps:
        print("check_layers: %d circle(s) among %d files; each file may call only the layers below it"
              % (len(comps), len(objs)))
        return 1
    print("check_layers: %d files, no circles" % len(objs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
