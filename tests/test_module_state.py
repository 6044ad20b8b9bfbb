"""No module-level mutable state is written after import anywhere in hwnas/.

The check walks the AST of every module and reports, inside functions:
  (a) names declared ``global`` and rebound,
  (b) mutation of a module-level container (subscript assignment or deletion, a mutating method such as
      ``.append`` / ``.update`` / ``.pop``) or of an attribute of any module-level name,
  (c) assignment to, or mutation of, something imported (``warnings.showwarning = ...``,
      ``os.environ[...] = ...``, ``sys.path.append(...)``, ``setattr(module, ...)``).
A name bound in the function itself (or an enclosing one) is local and not reported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hwnas"

MUTATORS = frozenset(
    "append extend insert remove pop popitem clear update setdefault add discard sort reverse "
    "difference_update intersection_update symmetric_difference_update appendleft extendleft popleft "
    "rotate move_to_end set reset".split()
)
CONTAINER_CALLS = frozenset("list dict set defaultdict OrderedDict deque Counter ContextVar".split())
CONTAINER_NODES = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)

# (module path relative to hwnas/, name written): what is allowed, and why.
ALLOWED = {
    # filled by the @register decorator while hwnas.devices.presets is imported, read-only afterwards
    ("devices/registry.py", "_BUILTIN"): "import-time registration",
    # filled by the @register decorator while hwnas.core.presets is imported, read-only afterwards
    ("core/presets.py", "_REGISTRY"): "import-time registration",
    # set only inside `with warnings.catch_warnings()`, which puts the previous hook back on exit
    ("cli/main.py", "warnings.showwarning"): "scoped by warnings.catch_warnings",
}


@dataclass(frozen=True)
class Write:
    line: int
    name: str  # what is written: a module-level name, or imported.attribute
    how: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.how} {self.name}"


def _is_container(value: ast.expr | None) -> bool:
    if isinstance(value, CONTAINER_NODES):
        return True
    if isinstance(value, ast.Call):
        f = value.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        return name in CONTAINER_CALLS
    return False


def _stored_names(targets: list[ast.expr]) -> list[str]:
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]


def _module_scope(tree: ast.Module) -> tuple[set[str], set[str], set[str]]:
    """(names bound at module level, those bound to a container or a from-imported object, imported names).

    Statements under a top-level if/try count as module level."""
    bound: set[str] = set()
    containers: set[str] = set()
    imported: set[str] = set()
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.If, ast.Try)):
            stack.extend([*node.body, *node.orelse, *getattr(node, "finalbody", [])])
            stack.extend(s for h in getattr(node, "handlers", []) for s in h.body)
        elif isinstance(node, ast.Import):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):  # an object, not a module: its own methods may mutate it
            objects = {a.asname or a.name for a in node.names}
            imported.update(objects)
            containers.update(objects)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = _stored_names(targets)
            bound.update(names)
            if _is_container(node.value):
                containers.update(names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return bound, containers, imported


def _locals_of(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> tuple[set[str], set[str]]:
    """(names local to ``fn``, names it declares global); nested functions' own names excluded."""
    args = fn.args
    local = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}
    declared: set[str] = set()
    for node in _own_nodes(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            local.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            local.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            local.add(node.name)
        elif isinstance(node, ast.Global):
            declared.update(node.names)
    return local - declared, declared


def _own_nodes(fn: ast.AST) -> list[ast.AST]:
    """The nodes of ``fn``'s body, not descending into nested functions, lambdas or classes (their own scopes)."""
    out: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        out.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return out


def _root(node: ast.expr) -> tuple[ast.Name | None, str]:
    """The name an attribute/subscript chain starts from, and the dotted path to it (a.b[0].c -> a, 'a.b')."""
    path: list[str] = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            path.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None, ""
    return node, ".".join([node.id, *reversed(path)])


class _Checker:
    def __init__(self, tree: ast.Module) -> None:
        self.bound, self.containers, self.imported = _module_scope(tree)
        self.writes: list[Write] = []
        for node in tree.body:
            self._visit_scope(node, enclosing=set())

    def _visit_scope(self, node: ast.AST, enclosing: set[str]) -> None:
        """Check every function under ``node``; ``enclosing``: names local to the functions around it."""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            local, declared = _locals_of(node)
            self._check(node, enclosing | local, declared)
            enclosing = enclosing | local
        for child in _own_nodes(node) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else []:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                self._visit_scope(child, enclosing)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for child in ast.iter_child_nodes(node):
                self._visit_scope(child, enclosing)

    def _shared(self, name: ast.Name | None, local: set[str]) -> str | None:
        """'container', 'imported' or 'module' when ``name`` refers to module-level state, else None."""
        if name is None or name.id in local:
            return None
        if name.id in self.containers:
            return "container"
        if name.id in self.imported:
            return "imported"
        return "module" if name.id in self.bound else None

    def _check(self, fn: ast.AST, local: set[str], declared: set[str]) -> None:
        for node in _own_nodes(fn):
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id in declared:
                self.writes.append(Write(line, node.id, "global rebinding of"))
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for t in targets:
                    if isinstance(t, (ast.Attribute, ast.Subscript)):
                        root, path = _root(t)
                        if self._shared(root, local):
                            self.writes.append(Write(line, path, "assignment to"))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                root, path = _root(node.func.value)
                kind = self._shared(root, local)
                # np.sort(x) is a function of a module; os.environ.update(...) and _seen.append(x) mutate
                if node.func.attr in MUTATORS and (kind == "container" or (kind and root and path != root.id)):
                    self.writes.append(Write(line, path, f".{node.func.attr}() on"))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr":
                root, path = _root(node.args[0]) if node.args else (None, "")
                if self._shared(root, local):
                    self.writes.append(Write(line, path, "setattr on"))


def module_state_writes(source: str) -> list[Write]:
    """Where functions in ``source`` write module-level state (see the module docstring)."""
    return _Checker(ast.parse(source)).writes


def test_no_function_in_hwnas_writes_module_state():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        found += [f"hwnas/{rel} {w}" for w in module_state_writes(path.read_text()) if (rel, w.name) not in ALLOWED]
    assert not found, "module-level state written after import:\n" + "\n".join(found)


PLANTED = [
    ("_n = 0\ndef f():\n    global _n\n    _n += 1\n", "_n", "global rebinding"),
    ("_seen = []\ndef f(x):\n    _seen.append(x)\n", "_seen", ".append()"),
    ("_cache = {}\ndef f(k):\n    _cache[k] = 1\n", "_cache", "assignment"),
    ("_cache: dict = dict()\nclass A:\n    def m(self):\n        _cache.clear()\n", "_cache", ".clear()"),
    ("_s = set()\ndef f():\n    def g():\n        del _s[0]\n    g()\n", "_s", "assignment"),
    ("import warnings\ndef f(h):\n    warnings.showwarning = h\n", "warnings.showwarning", "assignment"),
    ("import os\ndef f():\n    os.environ['X'] = '1'\n", "os.environ", "assignment"),
    ("import os\ndef f():\n    os.environ.update(X='1')\n", "os.environ", ".update()"),
    ("from os import environ\ndef f():\n    environ.pop('X')\n", "environ", ".pop()"),
    ("import sys\ndef f():\n    setattr(sys, 'flag', 1)\n", "sys", "setattr"),
    ("class _S: pass\n_STATE = _S()\ndef f():\n    _STATE.count = 2\n", "_STATE.count", "assignment"),
    ("from contextvars import ContextVar\n_V = ContextVar('v')\ndef f():\n    _V.set(1)\n", "_V", ".set()"),
]


@pytest.mark.parametrize(("source", "name", "how"), PLANTED)
def test_the_check_finds_a_planted_write(source, name, how):
    writes = module_state_writes(source)
    assert [(w.name, w.how.split(" ")[0]) for w in writes] == [(name, how.split(" ")[0])], writes


NOT_WRITES = [
    "_seen = []\ndef f(x):\n    _seen = []\n    _seen.append(x)\n",  # a local of the same name
    "def f(x):\n    seen = {}\n    def g():\n        seen[x] = 1\n    g()\n",  # a closure, not the module
    "_TABLE = {'a': 1}\ndef f(k):\n    return _TABLE.get(k)\n",  # reading
    "import os\ndef f():\n    return os.environ.get('X')\n",
    "import numpy as np\ndef f(a):\n    return np.sort(a)\n",  # a function of a module, not a method
    "_REGISTRY = {}\ndef register(name):\n    return lambda fn: fn\n",
    "import numpy as np\ndef f(a):\n    a = np.zeros(3)\n    a[0] = 1\n",
    "def f(items):\n    items.append(1)\n",  # an argument
]


@pytest.mark.parametrize("source", NOT_WRITES)
def test_the_check_ignores_local_state_and_reads(source):
    assert module_state_writes(source) == []
