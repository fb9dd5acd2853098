"""A language model's step as ONNX or TorchScript files, checked against PyTorch.

Both formats hold two models: ``step`` (one token and the state in, scores and the
next state out) and ``sequence`` (a whole (B, T) batch of tokens through the same
step). Exporting happens in memory; the caller writes the bytes only once every
check has passed.

torch 2.13 warns on every ``torch.jit`` call (TorchScript is deprecated in favour of
``torch.export``), and its ONNX exporter trips one of torch's own deprecations
(``LeafSpec``) internally. Both warnings are about torch, not about the user's
model, so exactly these two are silenced while exporting and nothing else.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from rnnkit.errors import ConfigError
from rnnkit.export.modules import LMStep, StepLoop

FORMATS = ("onnx", "torchscript")
INSTALL_HINT = "pip install 'rnnkit[export]'"
#: What each format needs: to export (onnx, onnxscript) and to check the result (onnxruntime).
NEEDS = {"onnx": ("onnx", "onnxscript", "onnxruntime"), "torchscript": ()}
#: Files written per format, by role.
FILES = {
    "onnx": {"step": "step.onnx", "sequence": "sequence.onnx"},
    "torchscript": {"step": "step.pt", "sequence": "sequence.pt"},
}
#: The check of an export: largest |exported - PyTorch| allowed, relative to the scores' scale.
TOLERANCE = 1e-4


def check_format(fmt: str) -> None:
    """``fmt`` is a known format whose packages are installed (ConfigError otherwise)."""
    if fmt not in FORMATS:
        raise ConfigError(
            f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}",
            field="format",
            problem=f"expected one of {', '.join(FORMATS)}, got {fmt!r}",
        )
    missing = [name for name in NEEDS[fmt] if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"exporting to {fmt} needs the {', '.join(missing)} package(s): {INSTALL_HINT}"
        )


def io_names(step: LMStep) -> dict[str, list[str]]:
    """Input and output names of both models: the state fields keep their names
    (``h``, ``c``); the state coming out is ``h_next``, ``c_next``."""
    state_in, state_out = list(step.fields), [f"{f}_next" for f in step.fields]
    return {
        "step_inputs": ["token", *state_in],
        "step_outputs": ["logits", *state_out],
        "sequence_inputs": ["tokens", *state_in],
        "sequence_outputs": ["logits", *state_out],
    }


@contextlib.contextmanager
def quiet_torch_exporters() -> Iterator[None]:
    """Silence the two torch-internal deprecations named in the module docstring, and
    the exporter's log lines about optional packages (torchvision) it did not find."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning
            )
            warnings.filterwarnings(
                "ignore",
                message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                category=FutureWarning,
            )
            yield
    finally:
        registration.setLevel(level)


def example_inputs(step: LMStep, batch_size: int, steps: int, seed: int = 0):
    """Random tokens (B, T) and a random state, drawn from their own generator."""
    gen = torch.Generator().manual_seed(seed)
    V = step.model.config.vocab_size
    tokens = torch.randint(0, V, (batch_size, steps), generator=gen)
    state = [0.5 * torch.randn(shape, generator=gen) for shape in step.state_shapes(batch_size)]
    return tokens, state


def export(step: LMStep, fmt: str, cell: str) -> dict[str, bytes]:
    """The two models of ``fmt`` as file contents by role (``step``, ``sequence``).
    A model the exporter cannot handle is a ConfigError naming ``cell``."""
    tokens, state = example_inputs(step, batch_size=2, steps=1)
    with quiet_torch_exporters(), torch.no_grad():
        if fmt == "onnx":
            return _export_onnx(step, tokens[:, 0], state, cell)
        return _export_torchscript(step, tokens[:, 0], state, cell)


def _export_onnx(step: LMStep, token: Tensor, state: list[Tensor], cell: str) -> dict[str, bytes]:
    from rnnkit.export.onnx_scan import sequence_from_step

    names = io_names(step)
    batch = torch.export.Dim("batch")
    # The state's batch axis is the token's: naming it once keeps one axis name.
    dynamic = ({0: batch}, [{1: torch.export.Dim.DYNAMIC} for _ in state])
    try:
        # On failure torch.export dumps its whole graph to stderr; the cause is in the error.
        with contextlib.redirect_stderr(io.StringIO()):
            program = torch.onnx.export(
                step,
                (token, state),
                dynamo=True,
                input_names=names["step_inputs"],
                output_names=names["step_outputs"],
                dynamic_shapes=dynamic,
                verbose=False,
            )
    except torch.onnx.OnnxExporterError as err:
        raise ConfigError(
            f"the {cell!r} cell cannot be exported to ONNX: {first_line(err)}"
        ) from err
    step_proto = program.model_proto
    sequence_proto = sequence_from_step(
        step_proto, inputs=names["sequence_inputs"], outputs=names["sequence_outputs"]
    )
    return {"step": step_proto.SerializeToString(), "sequence": sequence_proto.SerializeToString()}


def _export_torchscript(
    step: LMStep, token: Tensor, state: list[Tensor], cell: str
) -> dict[str, bytes]:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", torch.jit.TracerWarning)
            # strict=False: the state is a list, whose length is fixed by the model.
            traced = torch.jit.trace(step, (token, state), strict=False)
        loop = torch.jit.script(StepLoop(traced))
    except (RuntimeError, torch.jit.Error) as err:
        raise ConfigError(
            f"the {cell!r} cell cannot be exported to TorchScript: {first_line(err)}"
        ) from err
    # A TracerWarning says the trace may not generalise (e.g. Python control flow on
    # tensor values): refuse rather than write a model that may be wrong.
    for warning in caught:
        if issubclass(warning.category, torch.jit.TracerWarning):
            raise ConfigError(
                f"the {cell!r} cell cannot be exported to TorchScript: {warning.message}"
            )
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    files = {}
    for role, module in (("step", traced), ("sequence", loop)):
        buffer = io.BytesIO()
        torch.jit.save(module, buffer)
        files[role] = buffer.getvalue()
    return files


def first_line(err: BaseException) -> str:
    """The gist of an exporter's error: torch.onnx's messages are pages long, with the
    cause in their "Exception summary" section."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines()]
    lines = [line for line in lines if line]
    if "## Exception summary" in lines[:-1]:
        lines = lines[lines.index("## Exception summary") + 1 :]
    return lines[0] if lines else type(err).__name__


# --- checking an export ------------------------------------------------------------------
def run_exported(
    files: dict[str, bytes], fmt: str, step: LMStep, tokens: Tensor, state: list[Tensor]
) -> dict[str, Any]:
    """Run both exported models on ``tokens`` (B, T) from ``state``: the step model
    token by token, the sequence model at once. Returns their logits (B, T, V) and
    final states as tensors."""
    if fmt == "onnx":
        step_fn, sequence_fn = _onnx_runners(files, step)
    else:
        step_fn, sequence_fn = _torchscript_runners(files)
    carried, per_step = state, []
    for token in tokens.unbind(1):
        logits, carried = step_fn(token, carried)
        per_step.append(logits)
    seq_logits, seq_state = sequence_fn(tokens, state)
    return {
        "step": (torch.stack(per_step, 1), carried),
        "sequence": (seq_logits, seq_state),
    }


def _onnx_runners(files: dict[str, bytes], step: LMStep):
    import onnxruntime

    names = io_names(step)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    sessions = {
        role: onnxruntime.InferenceSession(files[role], options, providers=["CPUExecutionProvider"])
        for role in ("step", "sequence")
    }

    def runner(role: str):
        def run(tokens: Tensor, state: list[Tensor]):
            feeds = dict(zip(names[f"{role}_inputs"], [tokens, *state], strict=True))
            out = sessions[role].run(None, {k: v.numpy() for k, v in feeds.items()})
            return torch.from_numpy(out[0]), [torch.from_numpy(o) for o in out[1:]]

        return run

    return runner("step"), runner("sequence")


def _torchscript_runners(files: dict[str, bytes]):
    with quiet_torch_exporters():
        step = torch.jit.load(io.BytesIO(files["step"]))
        sequence = torch.jit.load(io.BytesIO(files["sequence"]))
    return step, sequence


def check_export(files: dict[str, bytes], fmt: str, step: LMStep, cell: str) -> dict[str, float]:
    """Compare both exported models with PyTorch's own ``model(tokens, state)`` on a
    random batch of another size than the export's example; returns the largest
    differences, or raises ConfigError naming ``cell`` if one is over tolerance."""
    tokens, state = example_inputs(step, batch_size=3, steps=4, seed=1)
    model = step.model
    with torch.no_grad():
        ref_logits, ref_state = model(tokens, tuple(state))
        ref_fields = [torch.stack(f) for f in zip(*ref_state, strict=True)]  # (L, B, H) each
        got = run_exported(files, fmt, step, tokens, state)
    scale = 1.0 + float(ref_logits.abs().max())
    diffs = {}
    for role, (logits, fields) in got.items():
        diffs[role] = max(
            float((logits - ref_logits).abs().max()),
            *(float((a - b).abs().max()) for a, b in zip(fields, ref_fields, strict=True)),
        )
        if not diffs[role] <= TOLERANCE * scale:
            raise ConfigError(
                f"the exported {fmt} {role} model of the {cell!r} cell differs from PyTorch "
                f"by {diffs[role]:.3g} (allowed {TOLERANCE * scale:.3g}); nothing was written"
            )
    return diffs
