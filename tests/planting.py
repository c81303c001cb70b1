"""Planted faults for the meta-tests: a copy of a library function with one piece of its source
changed, compiled at run time (the installed code is never edited; ``monkeypatch`` puts the copy
where the library looks the function up)."""

from __future__ import annotations

import __future__
import inspect
import textwrap


def planted_copy(function, old: str, new: str):
    """``function`` recompiled with ``old`` replaced by ``new`` in its source, in a copy of its module's
    globals. ``AssertionError`` unless ``old`` occurs exactly once (a fault that plants nothing
    would make its meta-test vacuous)."""
    source = textwrap.dedent(inspect.getsource(function))
    assert source.count(old) == 1, f"{function.__qualname__}: {old!r} occurs {source.count(old)} times in its source"
    namespace = dict(function.__globals__)
    code = compile(source.replace(old, new), inspect.getsourcefile(function), "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    exec(code, namespace)
    return namespace[function.__name__]


def plant(monkeypatch, function, old: str, new: str) -> None:
    """Run ``function`` with ``old`` replaced by ``new`` in its source until the test ends: its code is
    swapped in place, so the fault reaches every module that imported it by name and every registry
    holding it (TensorFlow's gradient registry, say)."""
    monkeypatch.setattr(function, "__code__", planted_copy(function, old, new).__code__)


def fails(check, *arguments) -> bool:
    """Whether ``check(*arguments)`` raises ``AssertionError`` (another exception propagates)."""
    try:
        check(*arguments)
    except AssertionError:
        return True
    return False
