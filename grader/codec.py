"""Plain data: a JSON tree plus raw tensor bytes in an ``.npz``, never pickle.

Two uses. Across the sandbox boundary: the trusted side writes each case's inputs with
:func:`write_bundle`, the sandboxed runner writes what the student's code returned with the same
function. In the student kit: the recorded cases of the checks (:mod:`grader.checks.sources`). Whatever is
read, with :func:`read_bundle` or :func:`loads`, is treated as hostile:

* the JSON is parsed with a size limit and every node must be one of the shapes below (anything
  else raises :class:`BundleError`), with limits on depth and node count;
* the ``.npz`` is a zip: its member names, each member's ``.npy`` header (dtype ``uint8``, one
  dimension) and sizes are checked before anything is read, and it is read with
  ``allow_pickle=False``;
* a tensor is rebuilt from those bytes with ``torch.frombuffer``, so it is always an exact
  ``torch.Tensor`` (never a subclass) of a dtype from :data:`DTYPES`, and its byte count must
  match its dtype and shape.

The tree, as JSON::

    null, true, false, 123, "text"       None, bools, ints, strings
    {"f": "0.5"}                         a float (repr; "nan", "inf" allowed)
    {"t": [...]} / {"l": [...]}          a tuple / a list
    {"d": [[key, value], ...]}           a dict (keys: str, int, bool or None)
    {"a": 3, "dtype": "float32", "shape": [2, 4]}   a tensor: array "a3" of the npz
    {"x": "numpy.ndarray"}               a Foreign value: only its type name
    {"dt": "float64"}                    a torch.dtype (in case data)

Nothing here imports torch or numpy at import time.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import zipfile
from pathlib import Path

# torch dtypes that may cross the boundary, by name (str(torch.float32) without "torch.").
DTYPES = ("float32", "float64", "float16", "bfloat16", "complex64", "complex128", "int64", "int32", "int16",
          "int8", "uint8", "bool")

MAX_JSON_BYTES = 64 * 2**20
MAX_ARRAY_BYTES = 256 * 2**20
MAX_TOTAL_BYTES = 1024 * 2**20
MAX_NODES = 2_000_000
MAX_DEPTH = 64
MAX_TEXT = 100_000
ARRAY_NAME = re.compile(r"^a(\d{1,9})\.npy$")
UNEXPECTED_OBJECT = "unexpected JSON object"


class BundleError(ValueError):
    """The data is not a well-formed bundle; the message says what is wrong."""


# ----------------------------------------------------------------------------- encoding


class _Encoder:
    def __init__(self, foreign=None):
        self.arrays: list = []
        self.foreign = foreign  # callable(value) -> type name, for values that are not plain data

    def tensor(self, value):
        import torch

        if value.layout != torch.strided or value.device.type != "cpu" or value.is_quantized:
            return {"x": f"torch.Tensor ({value.layout}, {value.device})"}
        dtype = str(value.dtype).replace("torch.", "")
        if dtype not in DTYPES:
            return {"x": f"torch.Tensor of dtype {dtype}"}
        flat = value.detach().resolve_conj().resolve_neg().contiguous().reshape(-1)
        raw = flat.view(torch.uint8) if flat.numel() else torch.empty(0, dtype=torch.uint8)
        index = len(self.arrays)
        self.arrays.append(raw.numpy().copy())
        return {"a": index, "dtype": dtype, "shape": list(value.shape)}

    def node(self, value, depth=0):
        if depth > MAX_DEPTH:
            raise BundleError("nested too deeply")
        encode = self._BY_TYPE.get(type(value))
        return encode(self, value, depth) if encode else self.other(value)

    def encode_plain(self, value, depth):
        return value

    def encode_float(self, value, depth):
        return {"f": repr(value)}

    def encode_tuple(self, value, depth):
        return {"t": [self.node(item, depth + 1) for item in value]}

    def encode_list(self, value, depth):
        return {"l": [self.node(item, depth + 1) for item in value]}

    def encode_dict(self, value, depth):
        return {"d": [[self.node(k, depth + 1), self.node(v, depth + 1)] for k, v in value.items()]}

    # exact types only: a subclass of a plain type is not plain data
    _BY_TYPE = {type(None): encode_plain, bool: encode_plain, int: encode_plain, str: encode_plain,
                float: encode_float, tuple: encode_tuple, list: encode_list, dict: encode_dict}

    def other(self, value):
        """A tensor, a torch dtype or a ``Foreign`` by its type name; anything else as ``foreign`` names it."""
        kind = type(value)
        if getattr(kind, "__module__", "").startswith("torch"):
            node = self.torch_value(value)
            if node is not None:
                return node
        name = getattr(value, "type_name", None) if kind.__name__ == "Foreign" else None
        if isinstance(name, str):
            return {"x": name}
        if self.foreign is not None:
            return {"x": self.foreign(value)}
        raise BundleError(f"cannot encode a {kind.__module__}.{kind.__qualname__}")

    def torch_value(self, value):
        import torch

        if type(value) is torch.Tensor:
            return self.tensor(value)
        if type(value) is torch.dtype:
            return {"dt": str(value).replace("torch.", "")}
        return None


def encode(tree, foreign=None) -> tuple[object, list]:
    """``(json_node, arrays)`` for a tree of plain values and tensors.

    ``foreign``: how to name a value that is not plain data (default: refuse it). Objects named
    ``Foreign`` with a ``type_name`` (``grader.checks.core.Foreign``) are kept by their type name.
    """
    encoder = _Encoder(foreign)
    return encoder.node(tree), encoder.arrays


def dumps(tree, foreign=None) -> tuple[bytes, bytes]:
    """``(json_bytes, npz_bytes)`` of a tree (see :func:`encode`)."""
    import io

    import numpy as np

    node, arrays = encode(tree, foreign)
    buffer = io.BytesIO()
    np.savez(buffer, **{f"a{i}": array for i, array in enumerate(arrays)})
    text = json.dumps({"version": 1, "tree": node}, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8"), buffer.getvalue()


def write_bundle(folder: Path, name: str, tree, foreign=None) -> None:
    """Write ``tree`` as ``name.json`` and ``name.npz`` in ``folder`` (each atomically, npz first)."""
    folder = Path(folder)
    json_bytes, npz_bytes = dumps(tree, foreign)
    for suffix, data in ((".npz", npz_bytes), (".json", json_bytes)):
        temporary = folder / f".{name}{suffix}.tmp"
        temporary.write_bytes(data)
        temporary.replace(folder / f"{name}{suffix}")


# ----------------------------------------------------------------------------- decoding (untrusted input)


def _read_arrays(source, wanted: set[int], max_total: int) -> dict:
    """The ``uint8`` arrays ``a<i>`` of an npz, after checking names, headers and sizes.

    Every member's name and size is checked (and counted in the total) before any is read; only the
    members in ``wanted`` are read.
    """
    arrays = {}
    try:
        archive = zipfile.ZipFile(source)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"the arrays are not a valid npz ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_NODES:
            raise BundleError("too many arrays")
        total = 0
        for info in infos:
            index = _member_index(info)
            total += info.file_size
            if total > max_total:
                raise BundleError("the arrays are too large in total")
            if index in wanted:
                arrays[index] = _read_member(archive, info)
    missing = wanted - set(arrays)
    if missing:
        raise BundleError(f"array a{min(missing)} is missing")
    return arrays


def _member_index(info: zipfile.ZipInfo) -> int:
    """The ``i`` of a member ``a<i>.npy`` that is stored uncompressed and not too large."""
    match = ARRAY_NAME.match(info.filename)
    if not match:
        raise BundleError(f"unexpected member {info.filename[:80]!r} in the npz")
    if info.compress_type != zipfile.ZIP_STORED:
        raise BundleError("compressed npz members are not accepted")
    if info.file_size > MAX_ARRAY_BYTES + 4096:
        raise BundleError("an array is too large")
    return int(match.group(1))


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """One member's bytes as a ``uint8`` array, after checking its ``.npy`` header against them."""
    import numpy as np

    with archive.open(info) as handle:
        shape, _fortran, dtype = _npy_header(handle)
        if dtype != np.dtype("uint8") or len(shape) != 1 or dtype.hasobject:
            raise BundleError("arrays must be one-dimensional uint8")
        size = int(shape[0])
        if size > MAX_ARRAY_BYTES:
            raise BundleError("an array is too large")
        data = handle.read(size + 1)
    if len(data) != size:
        raise BundleError("an array's size does not match its header")
    return np.frombuffer(data, dtype=np.uint8)


def _npy_header(handle) -> tuple:
    """``(shape, fortran_order, dtype)`` of an ``.npy`` header of version 1.0 or 2.0 (read safely by numpy)."""
    from numpy.lib import format as npy

    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    try:
        version = npy.read_magic(handle)
        if version not in readers:
            raise BundleError("unsupported npy version")  # a ValueError: reported as a malformed header, below
        return readers[version](handle)
    except ValueError as exc:
        raise BundleError(f"a malformed npy header ({exc})") from None


class _Decoder:
    def __init__(self, arrays):
        self.arrays = arrays
        self.nodes = 0

    def tensor(self, node):
        import torch

        if set(node) != {"a", "dtype", "shape"}:
            raise BundleError("a malformed tensor")
        index, dtype, shape = node["a"], node["dtype"], node["shape"]
        if type(index) is not int or dtype not in DTYPES or type(shape) is not list or len(shape) > 16 or \
                not all(type(s) is int and 0 <= s < 2**40 for s in shape):
            raise BundleError("a malformed tensor")
        torch_dtype = getattr(torch, dtype)
        numel = math.prod(shape)
        itemsize = torch.empty(0, dtype=torch_dtype).element_size()
        raw = self.arrays[index]
        if raw.shape[0] != numel * itemsize:
            raise BundleError("a tensor's bytes do not match its dtype and shape")
        if numel == 0:
            return torch.empty(shape, dtype=torch_dtype)
        if dtype == "bool" and bool((raw > 1).any()):
            raise BundleError("a bool tensor holds bytes other than 0 and 1")
        return torch.from_numpy(raw.copy()).view(torch_dtype).reshape(shape)

    def node(self, node, depth=0):
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise BundleError("too large or nested too deeply")
        kind = type(node)
        if node is None or kind in (bool, int):
            return node
        if kind is str:
            if len(node) > MAX_TEXT:
                raise BundleError("a text is too long")
            return node
        if kind is not dict or not node:
            raise BundleError(f"unexpected JSON value of type {kind.__name__}")
        return self.json_object(node, depth)

    def json_object(self, node: dict, depth):
        """A tensor (any object with an ``"a"``), else an object of one key whose value has that key's shape."""
        if "a" in node:
            return self.tensor(node)
        if len(node) == 1:
            ((key, value),) = node.items()
            read = self._BY_KEY.get(key)
            if read is not None:
                return read(self, value, depth)
        raise BundleError(UNEXPECTED_OBJECT)

    def read_float(self, value, depth):
        if type(value) is not str or len(value) >= 64:
            raise BundleError(UNEXPECTED_OBJECT)
        try:
            return float(value)
        except ValueError:
            raise BundleError("a malformed float") from None

    def read_items(self, value, depth) -> list:
        if type(value) is not list:
            raise BundleError(UNEXPECTED_OBJECT)
        return [self.node(item, depth + 1) for item in value]

    def read_tuple(self, value, depth):
        return tuple(self.read_items(value, depth))

    def read_dict(self, value, depth):
        if type(value) is not list:
            raise BundleError(UNEXPECTED_OBJECT)
        result = {}
        for pair in value:
            if type(pair) is not list or len(pair) != 2:
                raise BundleError("a malformed dict")
            key = self.node(pair[0], depth + 1)
            if not (key is None or type(key) in (str, int, bool)):
                raise BundleError("dict keys must be plain")
            result[key] = self.node(pair[1], depth + 1)
        return result

    def read_foreign(self, value, depth):
        if type(value) is not str:
            raise BundleError(UNEXPECTED_OBJECT)
        from grader.checks.core import Foreign

        return Foreign(value[:200])

    def read_dtype(self, value, depth):
        if value not in DTYPES:
            raise BundleError(UNEXPECTED_OBJECT)
        import torch

        return getattr(torch, value)

    _BY_KEY = {"f": read_float, "t": read_tuple, "l": read_items, "d": read_dict, "x": read_foreign,
               "dt": read_dtype}


def _tensor_indices(node, found: set, depth=0):
    if depth > MAX_DEPTH:
        raise BundleError("nested too deeply")
    if type(node) is dict:
        if "a" in node:
            if type(node["a"]) is not int or not 0 <= node["a"] < MAX_NODES:
                raise BundleError("a malformed tensor reference")
            found.add(node["a"])
            return
        for value in node.values():
            _tensor_indices(value, found, depth + 1)
    elif type(node) is list:
        for value in node:
            _tensor_indices(value, found, depth + 1)


def decode(node, arrays: dict):
    """The tree of a JSON node whose tensors are in ``arrays`` (index -> uint8 array); strict."""
    return _Decoder(arrays).node(node)


def loads(json_bytes: bytes, npz_bytes: bytes, max_total: int = MAX_TOTAL_BYTES):
    """The tree of a bundle given as bytes, read as untrusted data; raises :class:`BundleError`."""
    import io

    if len(json_bytes) > MAX_JSON_BYTES:
        raise BundleError("the JSON is too large")
    if len(npz_bytes) > max_total + 2**20:
        raise BundleError("the arrays are too large in total")

    def no_constants(token):
        raise BundleError(f"JSON constant {token} is not accepted")

    try:
        document = json.loads(json_bytes.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BundleError(f"not valid JSON ({type(exc).__name__})") from None
    if type(document) is not dict or set(document) != {"version", "tree"} or document["version"] != 1:
        raise BundleError("not a bundle")
    wanted: set[int] = set()
    _tensor_indices(document["tree"], wanted)
    arrays = _read_arrays(io.BytesIO(npz_bytes), wanted, max_total) if wanted else {}
    return decode(document["tree"], arrays)


def _read_file(path: Path, limit: int) -> bytes:
    """A regular file's bytes, refusing symbolic links and anything larger than ``limit``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise BundleError(f"{path.name} is missing") from None
    except OSError as exc:
        raise BundleError(f"{path.name} cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(f"{path.name} is not a regular file")
        if info.st_size > limit:
            raise BundleError(f"{path.name} is too large")
        return handle.read(limit + 1)


def read_bundle(folder: Path, name: str, max_total: int = MAX_TOTAL_BYTES):
    """Read ``name.json`` and ``name.npz`` from ``folder`` as untrusted data; raises :class:`BundleError`."""
    folder = Path(folder)
    return loads(_read_file(folder / f"{name}.json", MAX_JSON_BYTES),
                 _read_file(folder / f"{name}.npz", max_total + 2**20), max_total)
