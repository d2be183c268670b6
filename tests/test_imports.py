"""No import cycles between the project's modules, function-level imports included (an import inside a
function hides a cycle from Python, not from a reader)."""

import ast
import os

from tests.common.helpers import ROOT

PACKAGES = ("common", "pgdips", "sdmae", "slicedae", "xbdcnn", "segclassic")


def _modules():
  mods = {}
  for pkg in PACKAGES:
    for folder, _, files in os.walk(os.path.join(ROOT, pkg)):
      for f in files:
        if f.endswith(".py"):
          path = os.path.join(folder, f)
          name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
          mods[name[:-9] if name.endswith(".__init__") else name] = path
  return mods


def _imports(path, mods):
  out = set()
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.Import):
      out |= {a.name for a in node.names if a.name in mods}
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      for a in node.names:
        full = f"{node.module}.{a.name}"
        out.add(full if full in mods else node.module)
  return out & set(mods)


def _cycles(edges):
  """Strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
  index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

  def visit(root):
    work = [(root, iter(sorted(edges[root])))]
    index[root] = low[root] = counter[0]
    counter[0] += 1
    stack.append(root)
    on.add(root)
    while work:
      v, it = work[-1]
      w = next(it, None)
      if w is not None:
        if w not in index:
          index[w] = low[w] = counter[0]
          counter[0] += 1
          stack.append(w)
          on.add(w)
          work.append((w, iter(sorted(edges[w]))))
        elif w in on:
          low[v] = min(low[v], index[w])
        continue
      work.pop()
      if work:
        low[work[-1][0]] = min(low[work[-1][0]], low[v])
      if low[v] == index[v]:
        comp = []
        while True:
          w = stack.pop()
          on.discard(w)
          comp.append(w)
          if w == v:
            break
        if len(comp) > 1:
          found.append(sorted(comp))

  for v in sorted(edges):
    if v not in index:
      visit(v)
  return found


def test_the_cycle_finder_finds_a_cycle():
  assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
  assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
  mods = _modules()
  edges = {m: _imports(p, mods) - {m} for m, p in mods.items()}
  assert _cycles(edges) == []
