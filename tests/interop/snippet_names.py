"""Holds a Python snippet that cannot run here (it needs a container runtime) to the
libraries it uses, without running it: its imports must import, every attribute it uses
must exist on one of the objects it imported (or on the class such an object is, or on
what such a class's methods return), and each call whose callee is an imported name or
a method of one (`ApnsLab.connect(...)`, `DockerContainer(...).with_env(...)`) must bind
to that callee's signature.

Usage: snippet_names.py FILE
Prints one line, `N names, M calls checked`, or the problems and exits 1.
"""
import ast
import inspect
import sys

source = open(sys.argv[1]).read()
tree = ast.parse(source)

imported = {}
for node in ast.walk(tree):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        scope = {}
        exec(compile(ast.Module(body=[node], type_ignores=[]), "<imports>", "exec"), scope)
        imported.update({k: v for k, v in scope.items() if k != "__builtins__"})

# Where an attribute may come from: the imported objects, and for classes their instances'
# methods and what those return (a builder's `with_env` returns the container).
owners = list(imported.values())
for value in imported.values():
    if inspect.isclass(value):
        owners.extend(value.__mro__)

problems = []
names = set()
for node in ast.walk(tree):
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        names.add(node.attr)
        if not any(hasattr(owner, node.attr) for owner in owners):
            problems.append(f"line {node.lineno}: .{node.attr} is on nothing the snippet imports")


def resolve(expr):
    """What an expression is, where the imports say: ("obj", the object), ("instance",
    its class) for what a class or its builder methods return, ("method", class,
    function) for a method of such an instance; None if unknown."""
    if isinstance(expr, ast.Name) and expr.id in imported:
        return ("obj", imported[expr.id])
    if isinstance(expr, ast.Attribute):
        base = resolve(expr.value)
        if base and base[0] == "obj" and hasattr(base[1], expr.attr):
            return ("obj", getattr(base[1], expr.attr))
        if base and base[0] == "instance" and hasattr(base[1], expr.attr):
            return ("method", base[1], getattr(base[1], expr.attr))
    if isinstance(expr, ast.Call):
        what = resolve(expr.func)
        if what and what[0] == "obj" and inspect.isclass(what[1]):
            return ("instance", what[1])
        if what and what[0] == "method":
            return ("instance", what[1])  # a builder: with_env(...) returns the container
    return None


calls = 0
for node in ast.walk(tree):
    if not isinstance(node, ast.Call):
        continue
    what = resolve(node.func)
    if not what or not callable(what[-1]):
        continue
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
        continue
    try:
        signature = inspect.signature(what[-1])
    except (TypeError, ValueError):
        continue
    args = [object()] * (len(node.args) + (1 if what[0] == "method" else 0))
    try:
        signature.bind(*args, **{k.arg: object() for k in node.keywords})
        calls += 1
    except TypeError as e:
        problems.append(f"line {node.lineno}: {ast.unparse(node.func)}(...): {e}")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{len(names)} names, {calls} calls checked")
