"""The whole-sequence ONNX model, built as an ONNX ``Scan`` over the exported step graph.

Exporting a Python loop over time would unroll it for one length. ``Scan`` is ONNX's
own loop: it carries the state from step to step and stacks the per-step outputs, so
the sequence model runs any number of steps and is, by construction, the step model
applied once per token (the two cannot drift apart). The step graph becomes the
Scan's body unchanged except for the names of its inputs and outputs, which are
prefixed so that they cannot clash with the outer graph's, and their order: a Scan
body takes the carried state first and the scanned token last, and returns the new
state first and the scanned logits last.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
from onnx import helper

BODY_PREFIX = "step_"


def sequence_from_step(
    step: onnx.ModelProto, *, inputs: Sequence[str], outputs: Sequence[str]
) -> onnx.ModelProto:
    """``step`` maps ``(token (B,), state...)`` to ``(logits (B, V), next state...)``;
    return the model mapping ``(tokens (B, T), state...)`` to ``(logits (B, T, V),
    state after the last token...)``, with graph inputs and outputs named ``inputs``
    and ``outputs`` (tokens first, logits first)."""
    body = onnx.GraphProto()
    body.CopyFrom(step.graph)
    body.name = "step"
    interface = [*body.input, *body.output]
    renamed = {v.name: BODY_PREFIX + v.name for v in interface}
    for value in interface:
        value.name = renamed[value.name]
    for node in body.node:
        node.input[:] = [renamed.get(n, n) for n in node.input]
        node.output[:] = [renamed.get(n, n) for n in node.output]
    token, *state_in = list(body.input)
    logits, *state_out = list(body.output)
    del body.input[:], body.output[:]
    body.input.extend([*state_in, token])
    body.output.extend([*state_out, logits])

    outer_inputs = [_with_time_axis(step.graph.input[0], inputs[0], at=1)]
    outer_inputs += [
        _renamed(v, name) for v, name in zip(step.graph.input[1:], inputs[1:], strict=True)
    ]
    outer_outputs = [_with_time_axis(step.graph.output[0], outputs[0], at=1)]
    outer_outputs += [
        _renamed(v, name) for v, name in zip(step.graph.output[1:], outputs[1:], strict=True)
    ]
    scan = helper.make_node(
        "Scan",
        [*inputs[1:], inputs[0]],
        [*outputs[1:], outputs[0]],
        body=body,
        num_scan_inputs=1,
        scan_input_axes=[1],  # tokens (B, T): one (B,) column per step
        scan_output_axes=[1],  # logits stacked into (B, T, V)
    )
    graph = helper.make_graph([scan], "sequence", outer_inputs, outer_outputs)
    model = helper.make_model(graph, opset_imports=step.opset_import, ir_version=step.ir_version)
    model.functions.extend(step.functions)
    onnx.checker.check_model(model)
    return model


def _renamed(value: onnx.ValueInfoProto, name: str) -> onnx.ValueInfoProto:
    out = onnx.ValueInfoProto()
    out.CopyFrom(value)
    out.name = name
    return out


def _with_time_axis(value: onnx.ValueInfoProto, name: str, at: int) -> onnx.ValueInfoProto:
    """``value``'s type with a dynamic ``time`` axis inserted at position ``at``."""
    out = _renamed(value, name)
    dims = out.type.tensor_type.shape.dim
    kept = [onnx.TensorShapeProto.Dimension() for _ in dims]
    for new, old in zip(kept, dims, strict=True):
        new.CopyFrom(old)
    del dims[:]
    time = onnx.TensorShapeProto.Dimension(dim_param="time")
    dims.extend([*kept[:at], time, *kept[at:]])
    return out
