"""The exportable whole-sequence model of a sequence classifier:
``(x (B, T) int64 ids or (B, T, D) float32, lengths (B,) int64) -> logits (B, C)``.

It is `SequenceClassifier.forward` with each layer's loop over time written out for
the exporter: per layer and direction, the cell's step with the layer's weights,
frozen past each sequence's length (state kept, output zero), the reverse direction
reading each sequence backwards within its own length, then the model's own pooling,
dense layers and output layer. The loop is torch's ``scan`` operator, which the ONNX
exporter turns into an ONNX ``Scan``, so batch size and length stay free.

ONNX only: traced for TorchScript, the pooling's own shape checks would become
constants of the trace (torch warns that the trace may not generalise).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import torch
from torch import Tensor, nn
from torch._higher_order_ops.scan import scan

from rnnkit.errors import ConfigError
from rnnkit.export.formats import TOLERANCE, first_line, quiet_torch_exporters
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.nn.lengths import reversal_index, reverse_in_time
from rnnkit.nn.noise import zoneout_eval
from rnnkit.nn.pooling import valid_steps


class MaskedStep(nn.Module):
    """One step of one layer and direction: ``(gx_t (B, G*H), valid_t (B, 1) bool,
    [state fields]) -> (h_t (B, H), [state fields])``; past a sequence's end the state
    is kept and the output is zero, as in `Recurrent`'s loop."""

    def __init__(self, layer: nn.Module, direction: int) -> None:
        super().__init__()
        self.layer, self.direction = layer, direction
        self.cell = layer.cells[direction]

    def forward(
        self, gx: Tensor, valid: Tensor, state: list[Tensor]
    ) -> tuple[Tensor, list[Tensor]]:
        w = self.layer.cell_weights(self.direction)
        old = self.cell.state_type(*state)
        h, new = self.cell.step(gx, old, w)
        if self.layer.zoneout:  # its expectation, as the layer applies it at evaluation
            new = zoneout_eval(old, new, self.layer.zoneout)
            h = new[0]
        kept = [torch.where(valid, n, o) for n, o in zip(new, old, strict=True)]
        return torch.where(valid, h, torch.zeros_like(h)), kept


class ScanLoop(nn.Module):
    """Every step of a (T, B, ·) sequence through ``step``, as torch's ``scan`` operator."""

    def __init__(self, step: MaskedStep) -> None:
        super().__init__()
        self.step = step

    def forward(self, gx: Tensor, valid: Tensor, state: list[Tensor]) -> Tensor:
        def body(carry: list[Tensor], inputs: list[Tensor]):
            h, new = self.step(inputs[0], inputs[1], carry)
            return new, h

        _, outputs = scan(body, state, [gx, valid])
        return outputs  # (T, B, H)


class ClassifierSequence(nn.Module):
    """``(x, lengths) -> logits``: `SequenceClassifier.forward` with a `ScanLoop` per
    layer and direction (layer-major order), without its input checks."""

    def __init__(self, model: SequenceClassifier) -> None:
        super().__init__()
        self.model = model
        steps = [MaskedStep(layer, d) for layer in model.layers for d in range(len(layer.cells))]
        self.loops = nn.ModuleList(ScanLoop(step) for step in steps)
        self.eval()  # puts the model in eval mode too: no dropout in a deployed model

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        model, T = self.model, x.shape[1]
        valid = valid_steps(lengths, T, x.device)  # (B, T)
        mask = valid.transpose(0, 1).unsqueeze(-1)  # (T, B, 1)
        rev = reversal_index(lengths, T, x.device)  # (T, B)
        h = model.embed(x, valid).transpose(0, 1)  # (T, B, E)
        k = 0
        for layer in model.layers:
            outputs = []
            for direction, cell in enumerate(layer.cells):
                seq = reverse_in_time(h, rev) if direction else h
                gx = cell.project_input(seq, layer.cell_weights(direction))  # (T, B, G*H)
                B = gx.shape[1]
                # Fresh zeros per loop: a loop's carried state must not alias another tensor.
                state = [gx.new_zeros(shape) for shape in cell.state_shapes(B)]
                out = self.loops[k](gx, mask, state)  # (T, B, H)
                outputs.append(reverse_in_time(out, rev) if direction else out)
                k += 1
            h = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]  # (T, B, K*H)
        pooled = model.pooling.pooled(h.transpose(0, 1), lengths)  # (B, F)
        return model.output_layer(model.dense(pooled))  # (B, C) or (B, 1)


class EnsembleSequence(nn.Module):
    """``(x, lengths) -> logits`` of an ensemble: each network's `ClassifierSequence`,
    combined by `SequenceClassifier.combined_logits` (softmax or sigmoid of the result
    is the mean of the networks' probabilities)."""

    def __init__(self, model: SequenceClassifier) -> None:
        super().__init__()
        self.model = model
        self.networks = nn.ModuleList(ClassifierSequence(n) for n in model.networks())
        self.eval()

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        logits = torch.stack([network(x, lengths) for network in self.networks], dim=1)
        return self.model.combined_logits(logits)  # (B, C) or (B, 1)


def sequence_module(model: SequenceClassifier) -> nn.Module:
    """The exportable whole-sequence module of a classifier, single or ensemble."""
    return EnsembleSequence(model) if model.members is not None else ClassifierSequence(model)


def classifier_io(model: SequenceClassifier) -> dict[str, Any]:
    """The ONNX model's input and output names, as a language model's manifest gives
    them, and their shapes (``x`` is int64 ids for text, float32 features otherwise)."""
    config = model.config
    x = ["batch", "time"] if config.is_text else ["batch", "time", config.input_size]
    width = 1 if config.output == "binary_sigmoid" else config.num_classes
    return {
        "sequence_inputs": ["x", "lengths"],
        "sequence_outputs": ["logits"],
        "shapes": {"x": x, "lengths": ["batch"], "logits": ["batch", width]},
        "x_dtype": "int64" if config.is_text else "float32",
    }


def example_batch(model: SequenceClassifier, batch_size: int, steps: int, seed: int = 0):
    """Random inputs (B, T[, D]) and lengths in [1, T], the first of them T."""
    gen = torch.Generator().manual_seed(seed)
    config = model.config
    if config.is_text:
        x = torch.randint(0, config.vocab_size, (batch_size, steps), generator=gen)
    else:
        x = torch.randn(batch_size, steps, config.input_size, generator=gen)
    lengths = torch.randint(1, steps + 1, (batch_size,), generator=gen)
    lengths[0] = steps
    return x, lengths


def export_classifier_onnx(model: SequenceClassifier, cell: str) -> bytes:
    """The whole-sequence ONNX model; a ConfigError naming ``cell`` if it cannot export."""
    x, lengths = example_batch(model, batch_size=2, steps=3)
    axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("time")}
    try:
        # On failure torch.export dumps its whole graph to stderr; the cause is in the error.
        with quiet_torch_exporters(), torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            program = torch.onnx.export(
                sequence_module(model),
                (x, lengths),
                dynamo=True,
                input_names=["x", "lengths"],
                output_names=["logits"],
                dynamic_shapes=(axes, {0: torch.export.Dim.DYNAMIC}),
                verbose=False,
            )
    except torch.onnx.OnnxExporterError as err:
        raise ConfigError(
            f"the {cell!r} cell cannot be exported to ONNX: {first_line(err)}"
        ) from err
    return program.model_proto.SerializeToString()


def check_classifier_onnx(content: bytes, model: SequenceClassifier, cell: str) -> float:
    """Largest difference between the ONNX model and ``model(x, lengths)`` on a random
    padded batch of another shape than the export's; ConfigError over tolerance."""
    import onnxruntime

    x, lengths = example_batch(model, batch_size=3, steps=5, seed=1)
    with torch.no_grad():
        want = model.combined_logits(model(x, lengths))
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]
    diff = float((torch.from_numpy(got) - want).abs().max())
    allowed = TOLERANCE * (1.0 + float(want.abs().max()))
    if not diff <= allowed:
        raise ConfigError(
            f"the exported onnx classifier of the {cell!r} cell differs from PyTorch by "
            f"{diff:.3g} (allowed {allowed:.3g}); nothing was written"
        )
    return diff
