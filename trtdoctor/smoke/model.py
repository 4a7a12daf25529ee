"""The reference model: a small ResNet-style CNN written with onnx.helper, deterministic
weights, dynamic batch. Made on the spot, so the smoke needs no download."""

from __future__ import annotations

INPUT, OUTPUT = "input", "logits"
SHAPE = (3, 32, 32)
CLASSES = 10


def reference_model(seed: int = 0):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def w(name, *shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        arr = rng.standard_normal(shape).astype(np.float32) * (scale or (2.0 / fan_in) ** 0.5)
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def conv_bn(x, name, cin, cout, stride=1, relu=True):
        nodes.append(helper.make_node("Conv", [x, w(f"{name}.w", cout, cin, 3, 3), w(f"{name}.b", cout, scale=0.01)], [f"{name}.conv"], pads=[1, 1, 1, 1], strides=[stride, stride]))
        bn = []
        for part, arr in (
            ("gamma", 1.0 + 0.1 * rng.standard_normal(cout)),
            ("beta", 0.1 * rng.standard_normal(cout)),
            ("mean", 0.1 * rng.standard_normal(cout)),
            ("var", 0.5 + np.abs(rng.standard_normal(cout))),
        ):
            inits.append(numpy_helper.from_array(arr.astype(np.float32), f"{name}.{part}"))
            bn.append(f"{name}.{part}")
        nodes.append(helper.make_node("BatchNormalization", [f"{name}.conv", *bn], [f"{name}.bn"], epsilon=1e-5))
        if not relu:
            return f"{name}.bn"
        nodes.append(helper.make_node("Relu", [f"{name}.bn"], [f"{name}.out"]))
        return f"{name}.out"

    x = conv_bn(INPUT, "stem", 3, 16)
    for blk, (cin, cout, stride) in enumerate([(16, 16, 1), (16, 32, 2)]):
        y = conv_bn(x, f"b{blk}.c1", cin, cout, stride)
        y = conv_bn(y, f"b{blk}.c2", cout, cout, 1, relu=False)
        short = x if (cin == cout and stride == 1) else conv_bn(x, f"b{blk}.proj", cin, cout, stride, relu=False)
        nodes.append(helper.make_node("Add", [y, short], [f"b{blk}.sum"]))
        nodes.append(helper.make_node("Relu", [f"b{blk}.sum"], [f"b{blk}.out"]))
        x = f"b{blk}.out"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"]))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], axis=1))
    nodes.append(helper.make_node("Gemm", ["flat", w("fc.w", CLASSES, 32), w("fc.b", CLASSES, scale=0.01)], [OUTPUT], transB=1))
    graph = helper.make_graph(
        nodes,
        "trtdoctor_reference_resnet",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", *SHAPE])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", CLASSES])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="trtdoctor")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def to_float16(model):
    """A strongly typed FP16 copy (TensorRT 11 / RTX take precision from the graph)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for i, t in enumerate(m.graph.initializer):
        if t.data_type == TensorProto.FLOAT:
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    for v in list(m.graph.input) + list(m.graph.output):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    onnx.checker.check_model(m)
    return m


def sample_inputs(batch: int, seed: int = 1, shape=SHAPE):
    import numpy as np

    return np.random.default_rng(seed).standard_normal((batch, *shape)).astype(np.float32)
