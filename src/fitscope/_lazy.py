"""Package attributes imported on first use (PEP 562), so that importing a package, or
one of its submodules such as a command module, does not load torch: ``fitscope --help``
then answers in half a second instead of three and a half.

Submodules are attributes too: after a plain ``import fitscope``,
``fitscope.population.train`` and ``fitscope.probe.tensorboard.export_tensorboard``
import their module on first use, as if it had been imported by its full name."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class LazyPackage(types.ModuleType):
    """A package whose exported names load on first use. Some exported functions share
    their name with the submodule that holds them (``fitscope.landscape.plane``): when
    the import system binds the submodule to that name, the binding is dropped, so the
    name keeps meaning the function (submodules stay importable by their full names)."""

    _lazy_exports: dict[str, str]

    def __getattr__(self, name: str) -> Any:
        exports = self.__dict__.get("_lazy_exports", {})
        if name not in exports:
            if not name.startswith("_") and importlib.util.find_spec(
                    f"{self.__name__}.{name}") is not None:
                return importlib.import_module(f"{self.__name__}.{name}")
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], self.__name__), name)
        setattr(self, name, value)  # later lookups find it directly
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in self.__dict__.get(
                "_lazy_exports", {}):
            return
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._lazy_exports))


class CallableLazyPackage(LazyPackage):
    """A :class:`LazyPackage` that can be called: the call goes to its exported function
    ``_lazy_call`` (``fitscope.probe(model)`` is ``fitscope.probe.probe(model)``, while
    ``fitscope.probe.theory`` stays the submodule)."""

    _lazy_call: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, self._lazy_call)(*args, **kwargs)


def lazy_package(package: str, exports: dict[str, str], call: str | None = None) -> None:
    """Make ``package`` (its ``__name__``) a :class:`LazyPackage` whose attribute
    ``name`` is the attribute of that name of submodule ``exports[name]`` (relative);
    with ``call``, calling the package calls that exported function."""
    module = sys.modules[package]
    module.__dict__["_lazy_exports"] = dict(exports)
    if call is None:
        module.__class__ = LazyPackage
    else:
        module.__dict__["_lazy_call"] = call
        module.__class__ = CallableLazyPackage
