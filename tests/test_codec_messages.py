"""grader.codec: the exact rejection of each forged node and npz member (pinned before the codec was split).

``tests/test_integrity_codec.py`` covers the kinds of attack; this pins, shape by shape, which
message each forgery gets, so that the decoder's checks keep their order and none goes missing.
"""

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from grader import codec
from grader.codec import BundleError

ONE_BYTE = {"a0": np.zeros(1, dtype=np.uint8)}


def _bundle(node, arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return json.dumps({"version": 1, "tree": node}).encode(), buffer.getvalue()


def _npy(array, version=(1, 0)) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


def _npz(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


THREE_BYTES = _npy(np.zeros(3, np.uint8))


@pytest.mark.parametrize("node, message", [
    ({"f": 5}, "unexpected JSON object"),
    ({"f": "1", "a": 0}, "a malformed tensor"),
    ({"t": "ab"}, "unexpected JSON object"),
    ({"l": {"t": []}}, "unexpected JSON object"),
    ({"d": {}}, "unexpected JSON object"),
    ({"d": [[1]]}, "a malformed dict"),
    ({"d": [{"t": [1, 2]}]}, "a malformed dict"),
    ({"d": [[{"f": "1.0"}, 2]]}, "dict keys must be plain"),
    ({"t": [], "l": []}, "unexpected JSON object"),
    ({}, "unexpected JSON value of type dict"),
    ({"x": ["a"]}, "unexpected JSON object"),
    ({"dt": "object"}, "unexpected JSON object"),
    ({"dt": ["float32"]}, "unexpected JSON object"),
    ("x" * 100_001, "a text is too long"),
    (1.5, "unexpected JSON value of type float"),
    ({"a": 0, "dtype": "uint8", "shape": [1], "x": 1}, "a malformed tensor"),
    ({"a": 0, "dtype": "uint8", "shape": [True]}, "a malformed tensor"),
    ({"a": "0", "dtype": "uint8", "shape": [1]}, "a malformed tensor reference"),
    ({"a": -1, "dtype": "uint8", "shape": [1]}, "a malformed tensor reference"),
])
def test_each_forged_node_gets_its_message(node, message):
    with pytest.raises(BundleError) as caught:
        codec.loads(*_bundle(node, ONE_BYTE))
    assert str(caught.value) == message


@pytest.mark.parametrize("npz, message", [
    (_npz({"a0.npy": _npy(np.zeros(3, np.uint8), (3, 0))}), "a malformed npy header (unsupported npy version)"),
    (_npz({"a0.npy": b"not an npy"}), "a malformed npy header (the magic string is not correct; "
                                      "expected b'\\x93NUMPY', got b'not an')"),
    (_npz({"a0.npy": _npy(np.zeros((1, 3), np.uint8))}), "arrays must be one-dimensional uint8"),
    (_npz({"a0.npy": THREE_BYTES[:-1]}), "an array's size does not match its header"),
    (_npz({"a0.npy": THREE_BYTES + b"\0"}), "an array's size does not match its header"),
    (_npz({"a0.npy": THREE_BYTES, "b.npy": b""}), "unexpected member 'b.npy' in the npz"),
    (b"PK not a zip", "the arrays are not a valid npz (File is not a zip file)"),
])
def test_each_forged_npz_gets_its_message(npz, message):
    tree = json.dumps({"version": 1, "tree": {"a": 0, "dtype": "uint8", "shape": [3]}}).encode()
    with pytest.raises(BundleError) as caught:
        codec.loads(tree, npz)
    assert str(caught.value) == message


def test_npy_version_2_is_read_and_members_not_referenced_are_not_read():
    tree = json.dumps({"version": 1, "tree": {"a": 0, "dtype": "uint8", "shape": [3]}}).encode()
    assert codec.loads(tree, _npz({"a0.npy": _npy(np.zeros(3, np.uint8), (2, 0))})).tolist() == [0, 0, 0]
    assert codec.loads(tree, _npz({"a0.npy": THREE_BYTES, "a7.npy": b"junk, never read"})).tolist() == [0, 0, 0]
    with pytest.raises(BundleError, match="too large in total"):
        codec.loads(tree, _npz({"a0.npy": THREE_BYTES}), max_total=10)


def test_encoding_names_each_kind_of_node():
    node, arrays = codec.encode([None, True, 1, "s", 0.5, (1,), [2], {"k": torch.float64}])
    assert node == {"l": [None, True, 1, "s", {"f": "0.5"}, {"t": [1]}, {"l": [2]},
                          {"d": [["k", {"dt": "float64"}]]}]}
    assert arrays == []
    assert codec.encode(torch.zeros(2).to_sparse())[0] == {"x": "torch.Tensor (torch.sparse_coo, cpu)"}
    assert codec.encode(torch.zeros(2, dtype=torch.uint16))[0] == {"x": "torch.Tensor of dtype uint16"}
    with pytest.raises(BundleError, match="cannot encode a builtins.object"):
        codec.encode(object())
    with pytest.raises(BundleError, match="nested too deeply"):
        deep = []
        for _ in range(codec.MAX_DEPTH + 1):
            deep = [deep]
        codec.encode(deep)
