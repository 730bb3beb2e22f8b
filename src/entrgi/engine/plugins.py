"""The one place a command-line shorthand becomes a plug-in: ``guidance.weight=entropy``, ``threshold:0.5``,
``objective.estimator=elbo``, ``particles.potential=max``.

Every plug-in kind is a small abstract class (``WeightPolicy``, ``LogLikEstimator``, ``Potential``, ...); each
implementation names itself with a class attribute ``spec`` (and optionally ``aliases``), so a new one, in
entrgi or in a user's module, is selectable by its name once its module is imported, with no table to edit. A
config may also give the plug-in itself (a ``_target_`` node Hydra builds), which passes through unchanged.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def implementations(base: type[T]) -> list[type[T]]:
    """Every concrete subclass of ``base`` that names itself (``spec`` a class attribute string), in
    definition order, subclasses of subclasses included."""
    found, todo = [], list(base.__subclasses__())
    while todo:
        cls = todo.pop(0)
        todo[:0] = cls.__subclasses__()
        if isinstance(cls.__dict__.get("spec"), str) or cls.__dict__.get("aliases"):
            found.append(cls)
    return found


def names(base: type) -> list[str]:
    """The shorthands ``base``'s implementations answer to (``name:<value>`` for those taking a value)."""
    out = []
    for cls in implementations(base):
        for name in (cls.__dict__.get("spec"), *cls.__dict__.get("aliases", ())):
            if isinstance(name, str):
                out.append(f"{name}:<value>" if getattr(cls, "takes_value", False) else name)
    return out


def resolve(base: type[T], spec: Any, key: str, **kwargs: Any) -> T:
    """The ``base`` plug-in ``spec`` selects.

    ``spec``: an instance of ``base`` (returned as is), or ``"name"`` / ``"name:value"``: the implementation
    whose ``spec`` or ``aliases`` hold ``name``, built with ``value`` (a number) as its one positional
    argument when given (``takes_value``; ``default_value = None``: the value is required), and ``kwargs``.
    ``key`` names the config key in errors.
    """
    if isinstance(spec, base):
        return spec
    name, _, arg = str(spec).partition(":")
    for cls in implementations(base):
        if name == cls.__dict__.get("spec") or name in cls.__dict__.get("aliases", ()):
            if not arg:
                if getattr(cls, "takes_value", False) and getattr(cls, "default_value", 0) is None:
                    raise ValueError(f"{key}={spec!r} needs a value, e.g. '{name}:0.5'")
                return cls(**kwargs)
            if not getattr(cls, "takes_value", False):
                raise ValueError(f"{key}={spec!r}: {name!r} takes no value; use {name!r}")
            try:
                value = float(arg)
            except ValueError:
                raise ValueError(f"{key}={spec!r}: {arg!r} is not a number") from None
            return cls(value, **kwargs)
    raise ValueError(f"{key}={spec!r} is not a {base.__name__}; choose one of {names(base)}")
