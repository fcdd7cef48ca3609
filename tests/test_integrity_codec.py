"""grader.integrity.codec: plain data across the sandbox boundary, and hostile bundles refused."""

import io
import json
import math
import zipfile

import numpy as np
import pytest
import torch

from grader.checks.core import Foreign
from grader import codec
from grader.codec import BundleError


def roundtrip(tree, **kw):
    json_bytes, npz_bytes = codec.dumps(tree, **kw)
    return codec.loads(json_bytes, npz_bytes)


def same(a, b):
    if isinstance(a, torch.Tensor):
        return type(b) is torch.Tensor and a.dtype == b.dtype and a.shape == b.shape and \
            bool(((a == b) | (a.isnan() & b.isnan()) if a.is_floating_point() else (a == b)).all())
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def test_plain_trees_and_tensors_of_every_dtype_come_back_identical():
    tree = {
        "floats": (0.5, float("nan"), float("inf"), -0.0, 1e-300),
        "ints": [0, -3, 2**62, True, False, None, "text"],
        3: {"nested": [(), [], {}]},
        "dtype": torch.float64,
        "foreign": Foreign("numpy.ndarray"),
        "tensors": [torch.randn(3, 4), torch.randn(2, dtype=torch.float64), torch.tensor(2.5), torch.zeros(0, 3),
                    torch.arange(6).reshape(2, 3), torch.tensor([True, False]), torch.randn(2, dtype=torch.complex64),
                    torch.randn(3).to(torch.bfloat16), torch.randn(3).half(), torch.randn(4, 3).T,
                    torch.tensor([1.0, float("nan")])],
    }
    back = roundtrip(tree)
    assert same(tree, back)
    for tensor in back["tensors"]:
        assert type(tensor) is torch.Tensor and tensor.is_contiguous() and not tensor.requires_grad


def test_grad_and_views_are_plain_copies():
    x = torch.randn(3, requires_grad=True)
    back = roundtrip((x * 2, x[1:]))
    assert all(type(t) is torch.Tensor and not t.requires_grad for t in back)


def test_values_that_are_not_plain_data_are_refused_or_named():
    class Sub(torch.Tensor):
        pass

    with pytest.raises(BundleError):
        codec.dumps([object()])
    named = roundtrip([torch.zeros(2).as_subclass(Sub), np.zeros(2), {1, 2}], foreign=lambda v: type(v).__name__)
    assert [type(v) for v in named] == [Foreign] * 3
    assert [v.type_name for v in named] == ["Sub", "ndarray", "set"]
    parameter = roundtrip([torch.nn.Parameter(torch.zeros(2))], foreign=lambda v: type(v).__name__)
    assert parameter[0].type_name == "Parameter"


def _bundle(tree_node, arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return json.dumps({"version": 1, "tree": tree_node}).encode(), buffer.getvalue()


@pytest.mark.parametrize("node, arrays, problem", [
    ({"a": 0, "dtype": "float32", "shape": [2]}, {"a0": np.zeros(3, dtype=np.uint8)}, "do not match"),
    ({"a": 0, "dtype": "float32", "shape": [1]}, {"a0": np.zeros(1, dtype=np.float32)}, "uint8"),
    ({"a": 0, "dtype": "object", "shape": [1]}, {"a0": np.zeros(4, dtype=np.uint8)}, "malformed tensor"),
    ({"a": 0, "dtype": "float32", "shape": [2**40]}, {"a0": np.zeros(4, dtype=np.uint8)}, "malformed tensor"),
    ({"a": 1, "dtype": "float32", "shape": [1]}, {"a0": np.zeros(4, dtype=np.uint8)}, "missing"),
    ({"a": 0, "dtype": "bool", "shape": [2]}, {"a0": np.array([1, 7], dtype=np.uint8)}, "0 and 1"),
    ({"a": 0, "dtype": "float32", "shape": [1]}, {"a0": np.array([object()], dtype=object)}, "uint8"),
    ({"evil": 1}, {}, "unexpected JSON object"),
    ({"f": "one half"}, {}, "malformed float"),
    ({"f": "1" * 100}, {}, "unexpected JSON object"),
    ({"d": [[{"t": [1]}, 2]]}, {}, "dict keys"),
    ({"x": 5}, {}, "unexpected"),
    ([1, 2], {}, "unexpected JSON value"),
])
def test_malformed_bundles_are_refused(node, arrays, problem):
    json_bytes, npz_bytes = _bundle(node, arrays)
    with pytest.raises(BundleError, match=problem):
        codec.loads(json_bytes, npz_bytes)


def test_pickles_compression_extra_members_and_json_constants_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a0.npy", b"\x93NUMPY")
    with pytest.raises(BundleError, match="compressed"):
        codec.loads(json.dumps({"version": 1, "tree": {"a": 0, "dtype": "uint8", "shape": [1]}}).encode(),
                    buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.pkl", b"cos\nsystem\n(S'echo hi'\ntR.")
    with pytest.raises(BundleError, match="unexpected member"):
        codec.loads(json.dumps({"version": 1, "tree": {"a": 0, "dtype": "uint8", "shape": [1]}}).encode(),
                    buffer.getvalue())
    with pytest.raises(BundleError, match="constant"):
        codec.loads(b'{"version": 1, "tree": NaN}', b"")
    with pytest.raises(BundleError, match="not a bundle"):
        codec.loads(b'{"version": 2, "tree": null}', b"")
    with pytest.raises(BundleError, match="not valid JSON"):
        codec.loads(b"\xff\xfe", b"")
    deep = "null"
    for _ in range(200):
        deep = '{"l": [' + deep + "]}"
    with pytest.raises(BundleError):
        codec.loads(('{"version": 1, "tree": ' + deep + "}").encode(), b"")


def test_files_are_read_without_following_links(tmp_path):
    codec.write_bundle(tmp_path, "ok", {"x": torch.ones(2)})
    assert same(codec.read_bundle(tmp_path, "ok"), {"x": torch.ones(2)})
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (tmp_path / "evil.json").symlink_to(secret)
    (tmp_path / "evil.npz").symlink_to(tmp_path / "ok.npz")
    with pytest.raises(BundleError, match="cannot be read|regular"):
        codec.read_bundle(tmp_path, "evil")
    with pytest.raises(BundleError, match="missing"):
        codec.read_bundle(tmp_path, "absent")
