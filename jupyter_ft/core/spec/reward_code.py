"""Ship a reward function written in a notebook cell to the detached job process, as source code.

Why source and not pickle: the spec is stored verbatim (YAML) with the job and logged to MLflow, so the exact
code that scored the run stays readable there; a YAML cell, the CLI and the REST body can carry the same text;
and nothing from the kernel is captured by accident (cloudpickle would silently serialise a 2 GB model a
function happens to reference). `inspect.getsource` reads IPython cells through linecache, so a `def` typed
into a notebook works like one in a module.

What a function uses from its cell is captured explicitly: modules become `import` lines, other plain functions
are shipped with it (recursively), constants that round-trip through `repr` (numbers, strings, lists, dicts,
...) and compiled regexes become assignments. Anything else (a tokenizer, a class instance, a closure's
variables) is refused at submission with a message naming the variable and what to do instead.
"""

from __future__ import annotations

import ast
import builtins
import dis
import inspect
import linecache
import re
import textwrap
import types
from typing import Any, Callable


class RewardCodeError(ValueError):
    """A function that cannot be sent to the job; the message says which name and why."""


_LITERALS = (bool, int, float, complex, str, bytes, type(None))
MAX_CONSTANT_CHARS = 100_000


def _global_names(code: types.CodeType) -> list[str]:
    """Globals the code reads, in order of first use, including those of nested code (comprehensions, lambdas)."""
    names: list[str] = []
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and ins.argval not in names:
            names.append(ins.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(n for n in _global_names(const) if n not in names)
    return names


def _is_literal(value: Any, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if isinstance(value, _LITERALS):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_is_literal(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_is_literal(k, depth + 1) and _is_literal(v, depth + 1) for k, v in value.items())
    return False


def _function_source(fn: types.FunctionType) -> str:
    """The `def` of `fn` (decorators dropped: the job calls the plain function)."""
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise RewardCodeError(f"cannot read the source of {fn.__name__!r} ({exc}); define it with `def` in a "
                              "notebook cell or a .py file") from None
    tree = ast.parse(src)
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != fn.__name__:
        raise RewardCodeError(f"the source found for {fn.__name__!r} is not its `def` (was it redefined or "
                              "created by a decorator/factory?)")
    if node.decorator_list:
        src = "\n".join(src.splitlines()[node.lineno - 1:]) + "\n"
    return src


def describe(fn: Callable[..., Any], *, name: str | None = None, weight: float = 1.0) -> dict[str, Any]:
    """A `python` reward entry for the spec: `{type, function, source, name, weight}`. Raises `RewardCodeError`."""
    if isinstance(fn, types.MethodType) or not isinstance(fn, types.FunctionType):
        kind = type(fn).__name__
        raise RewardCodeError(f"reward {getattr(fn, '__name__', kind)!r} is a {kind}, not a plain function; "
                              "wrap it in a `def my_reward(completions, **row): ...`")
    if fn.__name__ == "<lambda>":
        raise RewardCodeError("a lambda cannot be shipped by name; define the reward with "
                              "`def my_reward(completions, **row): ...`")
    parts: list[str] = []
    _collect(fn, parts, seen=set(), top=fn.__name__)
    source = "\n".join(parts)
    entry: dict[str, Any] = {"type": "python", "function": fn.__name__, "source": source, "weight": weight}
    if name:
        entry["name"] = name
    load_function(fn.__name__, source)  # what the job will do: fail here, not an hour from now
    return entry


def _collect(fn: types.FunctionType, parts: list[str], seen: set[str], top: str) -> None:
    if fn.__name__ in seen:
        return
    seen.add(fn.__name__)
    code = fn.__code__
    if code.co_freevars:
        raise RewardCodeError(f"{fn.__name__!r} (used by reward {top!r}) reads variables of an enclosing function "
                              f"({', '.join(code.co_freevars)}); define it at the top level of a cell")
    header: list[str] = []
    for gname in _global_names(code):
        if gname == fn.__name__:
            continue  # recursion
        if gname not in fn.__globals__:
            if hasattr(builtins, gname):
                continue
            raise RewardCodeError(f"reward {top!r}: {fn.__name__!r} uses {gname!r}, which is not defined")
        header.append(_ship_global(gname, fn.__globals__[gname], fn, parts, seen, top))
    parts.extend(h for h in header if h and h not in parts)
    parts.append(_function_source(fn))


def _ship_global(gname: str, value: Any, fn: types.FunctionType, parts: list[str], seen: set[str], top: str) -> str:
    if isinstance(value, types.ModuleType):
        mod = value.__name__
        if mod == "__main__":
            raise RewardCodeError(f"reward {top!r} uses the notebook's own module as {gname!r}")
        return f"import {mod}" if mod == gname else (
            f"import {mod} as {gname}" if "." not in mod or mod.rsplit(".", 1)[1] != gname
            else f"from {mod.rsplit('.', 1)[0]} import {gname}")
    if isinstance(value, types.FunctionType):
        module = getattr(value, "__module__", None) or "__main__"
        if module != "__main__" and not module.startswith("__") and _importable(module, value.__name__, value):
            alias = "" if value.__name__ == gname else f" as {gname}"
            return f"from {module} import {value.__name__}{alias}"
        if value.__name__ != gname:
            raise RewardCodeError(f"reward {top!r} uses {gname!r}, another name for function {value.__name__!r}; "
                                  "call it by its own name")
        _collect(value, parts, seen, top)
        return ""
    if isinstance(value, (types.BuiltinFunctionType, type)) and getattr(value, "__module__", "__main__") not in (
            "__main__", None) and _importable(value.__module__, value.__name__, value):
        alias = "" if value.__name__ == gname else f" as {gname}"
        return f"from {value.__module__} import {value.__name__}{alias}"
    if isinstance(value, re.Pattern):
        return f"import re\n{gname} = re.compile({value.pattern!r}, {int(value.flags)})"
    if _is_literal(value):
        text = repr(value)
        if len(text) > MAX_CONSTANT_CHARS:
            raise RewardCodeError(f"reward {top!r} uses {gname!r}, a constant of {len(text)} characters; put large "
                                  "data in a dataset column (each row's values reach the function) or a file")
        try:
            same = ast.literal_eval(text) == value
        except (ValueError, SyntaxError):
            same = False
        if same:
            return f"{gname} = {text}"
    raise RewardCodeError(
        f"reward {top!r} uses {gname!r}, a {type(value).__module__}.{type(value).__qualname__} from the notebook, "
        "which cannot be sent to the job process. Only modules, plain functions, constants (numbers, strings, "
        "lists, dicts) and compiled regexes are shipped: create the object inside the function, or pass the data "
        "through a dataset column")


def _importable(module: str, name: str, value: Any) -> bool:
    import importlib

    try:
        return getattr(importlib.import_module(module), name, None) is value
    except Exception:
        return False


def load_function(function: str, source: str) -> Callable[..., Any]:
    """Execute shipped source in a fresh namespace and return the named function. Tracebacks show its lines."""
    filename = f"<reward {function}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": f"jupyter_ft_reward_{function}"}
    try:
        exec(compile(source, filename, "exec"), namespace)
    except Exception as exc:
        raise RewardCodeError(f"reward {function!r}: its code failed to load: {type(exc).__name__}: {exc}") from None
    fn = namespace.get(function)
    if not callable(fn):
        raise RewardCodeError(f"reward {function!r}: the source defines no function of that name")
    return fn
