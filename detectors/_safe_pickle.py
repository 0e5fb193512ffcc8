"""Pickle in, pickle out, without trusting the bytes that come back.

River's detectors carry state that only pickle can capture (ADWIN's window lives in a Rust
object whose state is an opaque byte string), so the streaming detectors store their river
object as base64 pickle text. That text is read back from a checkpoint topic, so it must be
treated as untrusted: an ordinary ``pickle.loads`` would call whatever the bytes name.

:func:`restricted_loads` therefore unpickles with an allow-list:

- ``find_class`` resolves only the exact ``(module, qualname)`` of the classes the caller
  names (each detector lists the few it needs); anything else, ``builtins.getattr`` and
  ``os.system`` included, raises ``ValueError``;
- ``BUILD`` may only set the state of instances: applied to a class it would let a crafted
  pickle rewrite attributes of an allowed class for the whole process;
- extension-registry opcodes (``EXT1/2/4``) are refused, because they can resolve objects
  from a process-wide cache without going through ``find_class``.

Unpickling only builds objects of the allowed classes; :func:`check_same_shape` then compares
the result with a freshly built object, so that a crafted state cannot hand the detector, say,
a ``deque`` where river expects its running mean.

These hooks need the pure-Python unpickler (the C one exposes only ``find_class``); it is slower,
but detector states are small (a few kB) and are loaded once per restart.

>>> import collections
>>> text = dumps({"window": collections.deque([1.0, 2.0], maxlen=3)})
>>> restricted_loads(text, (collections.deque,))
{'window': deque([1.0, 2.0], maxlen=3)}
>>> restricted_loads(dumps(collections.OrderedDict()), (collections.deque,))
Traceback (most recent call last):
...
ValueError: state references collections.OrderedDict, which is not allowed
"""

from __future__ import annotations

import base64
import binascii
import io
import pickle
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

PICKLE_PROTOCOL = 5
_NUMBER_OR_NONE = (int, float, type(None))


def dumps(value: Any) -> str:
    """Pickle ``value`` and return the bytes as ASCII base64 text (JSON-safe)."""
    return base64.b64encode(pickle.dumps(value, protocol=PICKLE_PROTOCOL)).decode("ascii")


def restricted_loads(text: Any, allowed_classes: Iterable[type]) -> Any:
    """Unpickle base64 ``text`` that may only reference ``allowed_classes``.

    Every failure (bad base64, a foreign class, a truncated or malformed pickle, a panic in a
    Rust ``__setstate__``) is reported as ``ValueError``.
    """
    if not isinstance(text, str):
        raise ValueError("pickled state must be a base64 string")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as error:
        raise ValueError("pickled state is not valid base64") from error
    allowed = {(cls.__module__, cls.__qualname__): cls for cls in allowed_classes}
    try:
        return _RestrictedUnpickler(data, allowed).load()
    except ValueError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:
        # BaseException, not Exception: pyo3 reports a Rust panic (e.g. river's ADWIN given
        # malformed window bytes) as PanicException, which derives from BaseException.
        raise ValueError(f"pickled state is malformed: {type(error).__name__}") from error


def check_same_shape(expected: dict[str, Any], loaded: Any, where: str) -> None:
    """Require ``loaded`` to have the attribute names and types of a fresh river object.

    Numbers may change type as river runs (``None`` or ``-1`` become floats), so ints, floats and
    ``None`` are interchangeable; everything else must have exactly the expected type.
    """
    if not isinstance(loaded, dict) or set(loaded) != set(expected):
        raise ValueError(f"{where} does not have the expected attributes")
    for name, fresh in expected.items():
        value = loaded[name]
        path = f"{where}.{name}"
        if isinstance(fresh, bool) or isinstance(value, bool):
            if type(value) is not type(fresh):
                raise ValueError(f"{path} has an unexpected type")
        elif isinstance(fresh, _NUMBER_OR_NONE) and isinstance(value, _NUMBER_OR_NONE):
            continue
        elif type(value) is not type(fresh):
            raise ValueError(f"{path} has an unexpected type")
        elif isinstance(fresh, deque):
            if value.maxlen != fresh.maxlen or not all(type(x) is float for x in value):
                raise ValueError(f"{path} is not a window of floats of the expected size")
        elif hasattr(fresh, "__dict__"):
            check_same_shape(vars(fresh), vars(value), path)


def _build_instances_only(unpickler: Any) -> None:
    # At BUILD the stack ends with [..., target, state]; the target must not be a class.
    if isinstance(unpickler.stack[-2], type):
        raise ValueError("state tries to modify a class")
    _ORIGINAL_BUILD(unpickler)


def _refuse_extension(unpickler: Any) -> None:
    raise ValueError("state uses the pickle extension registry, which is not allowed")


_ORIGINAL_BUILD: Callable[[Any], None] = pickle._Unpickler.dispatch[pickle.BUILD[0]]


class _RestrictedUnpickler(pickle._Unpickler):
    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = {
        **pickle._Unpickler.dispatch,
        pickle.BUILD[0]: _build_instances_only,
        pickle.EXT1[0]: _refuse_extension,
        pickle.EXT2[0]: _refuse_extension,
        pickle.EXT4[0]: _refuse_extension,
    }

    def __init__(self, data: bytes, allowed: dict[tuple[str, str], type]) -> None:
        super().__init__(io.BytesIO(data))
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[module, name]
        except KeyError:
            raise ValueError(f"state references {module}.{name}, which is not allowed") from None
