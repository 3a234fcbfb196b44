"""One audit argument to an OpenTelemetry attribute value, without running user code.

Every conversion tests exact types (``type(x) is str``) or subclassing of a
builtin type (``issubclass(type(x), str)``, which consults only the MRO), and
reads values through the builtin type's own slots (``str.__str__(x)``,
``int.__index__(x)``), so no ``__repr__``, ``__str__``, ``__fspath__``,
``__class__`` property or ``__iter__`` of a user class ever runs, and nothing
is consumed (generators, files and request bodies are described by their type).
"""

from __future__ import annotations

import _socket
import os
import pathlib
import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    # Type aliases only: at run time each would build a generic alias at start-up.
    Scalar = str | bool | int | float
    AttrValue = Scalar | Sequence[str] | Sequence[int] | Sequence[float] | Sequence[bool]
    Attributes = dict[str, AttrValue]

MAX_ITEMS = 64

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_FS_ENCODING = sys.getfilesystemencoding()
_PATH_TYPES = (
    pathlib.PurePosixPath,
    pathlib.PureWindowsPath,
    pathlib.PosixPath,
    pathlib.WindowsPath,
)
_DIRENTRY = os.DirEntry

# Descriptors read straight from the builtin types: a metaclass or subclass
# cannot put a property in front of these.
_type_qualname = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__
sock_family = _socket.socket.__dict__["family"].__get__
sock_type = _socket.socket.__dict__["type"].__get__
_sock_fileno = _socket.socket.fileno

# (families, kinds): number -> constant name, built at the first socket shown
# (a tenth of this module's import otherwise, in processes that may show none);
# two threads building it at once build the same tables.
_socket_names: tuple[dict[int, str], dict[int, str]] | None = None


def _build_socket_names() -> tuple[dict[int, str], dict[int, str]]:
    global _socket_names
    constants = vars(_socket).items()
    families = {v: k for k, v in constants if k.startswith("AF_") and type(v) is int}
    # aliases share a number: the names people know win
    families[_socket.AF_INET] = "AF_INET"
    families[_socket.AF_INET6] = "AF_INET6"
    kinds = {v: k for k, v in constants if k.startswith("SOCK_") and type(v) is int}
    _socket_names = (families, kinds)
    return _socket_names


def _is_path_type(cls: type) -> bool:
    # Identity, not ``cls in a_set``: hashing a class runs its metaclass's __hash__.
    for path_type in _PATH_TYPES:
        if cls is path_type:
            return True
    return False


def clean_text(value: str, limit: int) -> str:
    """Truncate, and make a str encodable as UTF-8 (OTLP strings must be)."""
    if len(value) > limit:
        value = value[:limit]
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (undecodable file names) become visible escapes,
            # six characters each: cut again so that the limit still holds.
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")[:limit]
    return value


def text_of(value: Any, limit: int) -> str | None:
    """A str or str subclass as a clean str; None for anything else."""
    cls = type(value)
    if cls is not str:
        if not issubclass(cls, str):
            return None
        value = str.__str__(value)
    return clean_text(value, limit)


def type_name(value: Any) -> str:
    cls = type(value)
    name = _type_qualname(cls)
    module = _type_module(cls)
    if type(module) is str and module != "builtins":
        return f"{module}.{name}"
    return name if type(name) is str else "object"


def _decode_path(value: bytes, limit: int) -> str:
    head = bytes.__getitem__(value, slice(0, limit * 4))
    return clean_text(bytes.decode(head, _FS_ENCODING, "surrogateescape"), limit)


def path_of(value: Any, limit: int) -> str | None:
    """A path argument as text: str, bytes, or a builtin path type; else None."""
    text = text_of(value, limit)
    if text is not None:
        return text
    cls = type(value)
    if _is_path_type(cls):
        return clean_text(str(value), limit)
    if cls is _DIRENTRY:
        return path_of(value.path, limit)
    if issubclass(cls, bytes):
        return _decode_path(value, limit)
    return None


def _int_value(value: int, limit: int) -> int | str:
    if _INT64_MIN <= value <= _INT64_MAX:
        return value
    # OTLP ints are 64-bit; addresses and big numbers keep their value as hex
    # (linear in the size, unlike decimal), cut to the length limit like text.
    return hex(value)[:limit]


def _code_text(code: types.CodeType, limit: int) -> str:
    name = text_of(code.co_qualname, limit) or "?"
    filename = text_of(code.co_filename, limit) or "?"
    return clean_text(f"{name} ({filename}:{code.co_firstlineno})", limit)


def _callable_text(value: Any, limit: int) -> str | None:
    cls = type(value)
    if cls is types.MethodType:
        value = value.__func__
        cls = type(value)
    if cls is types.FunctionType or cls is types.BuiltinFunctionType:
        name = text_of(value.__qualname__, limit) or "?"
        module = text_of(value.__module__, limit)
        return clean_text(f"{module}.{name}" if module else name, limit)
    if issubclass(cls, type):
        name = _type_qualname(value)
        module = _type_module(value)
        if type(name) is str and type(module) is str:
            return clean_text(f"{module}.{name}", limit)
        return "type"
    return None


def socket_text(value: Any) -> str:
    families, kinds = _socket_names or _build_socket_names()
    family = sock_family(value)
    kind = sock_type(value)
    return f"{families.get(family, family)}/{kinds.get(kind, kind)}/fd={_sock_fileno(value)}"


def scalar(value: Any, limit: int, path: bool = False) -> Scalar | None:
    """One value as an attribute scalar; None means: leave the attribute out."""
    cls = type(value)
    if cls is str:
        return clean_text(value, limit)
    if cls is int:
        return _int_value(value, limit)
    if cls is bool or cls is float:
        return cast("Scalar", value)
    if value is None:
        return None
    if path:
        text = path_of(value, limit)
        if text is not None:
            return text
    if cls is bytes or cls is bytearray:
        return len(value)
    if issubclass(cls, str):
        return text_of(value, limit)
    if issubclass(cls, bool):
        return bool.__bool__(value)
    if issubclass(cls, int):
        return _int_value(int.__index__(value), limit)
    if issubclass(cls, float):
        return float.__float__(value)
    if issubclass(cls, bytes):
        return bytes.__len__(value)
    if issubclass(cls, bytearray):
        return bytearray.__len__(value)
    if cls is memoryview:
        try:
            return cast(int, value.nbytes)
        except ValueError:  # released: it has no length any more, only its type
            return type_name(value)
    if cls is _DIRENTRY or _is_path_type(cls):
        return path_of(value, limit)
    if issubclass(cls, _socket.socket):
        return socket_text(value)
    if cls is types.CodeType:
        return _code_text(value, limit)
    text = _callable_text(value, limit)
    if text is not None:
        return text
    return type_name(value)


def _homogeneous(items: list[Scalar]) -> AttrValue:
    first = type(items[0])
    if all(type(item) is first for item in items):
        return cast("AttrValue", tuple(items))
    # Mixed types are not a valid attribute array: render the scalars as text.
    # repr() is safe here: every item is an exact str, int, float or bool.
    return tuple(item if type(item) is str else repr(item) for item in items)


def value_of(value: Any, limit: int, path: bool = False) -> AttrValue | None:
    """Any argument as an attribute value, arrays included."""
    cls = type(value)
    if cls is list or cls is tuple:
        items: list[Scalar] = []
        # Slicing an exact list or tuple copies it without calling user code,
        # and a copy cannot change under our feet if another thread mutates it.
        for item in value[:MAX_ITEMS]:
            if type(item) is list or type(item) is tuple:
                items.append(type_name(item))
                continue
            converted = scalar(item, limit, path)
            items.append("None" if converted is None else converted)
        return _homogeneous(items) if items else ()
    return scalar(value, limit, path)
