"""The contenders of benchmarks/speed.py, built from what this checkout has at run time.

Cells come from rnnkit's registry (`rnnkit.nn.registry.CELLS`) and options from the
signatures of `Recurrent` and `LSTMCell`, so a cell or option that is not there yet
is reported as "not available" instead of breaking the run. Generation's fast path
enters through one function, `fast_generation`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.nn import GRU, LSTM, LSTMCell, Recurrent
from rnnkit.nn.registry import CELLS

# Option values: typical settings (Gal & Ghahramani 2016; Krueger et al. 2017). Speed
# hardly depends on them, only on whether the option is on.
RECURRENT_DROPOUT = 0.25
ZONEOUT = 0.1

LABELS = {
    "torch-lstm": "torch.nn.LSTM",
    "lstm": "rnnkit LSTM",
    "lstmcell-loop": "torch.nn.LSTMCell loop",
    "lstm-reference": "rnnkit LSTM, impl='reference'",
    "gru": "rnnkit GRU",
    "lnlstm": "rnnkit LayerNorm-LSTM",
    "lngru": "rnnkit LayerNorm-GRU",
    "lstm-recurrent-dropout": f"rnnkit LSTM, recurrent dropout {RECURRENT_DROPOUT}",
    "lstm-zoneout": f"rnnkit LSTM, zoneout {ZONEOUT}",
    "mingru": "rnnkit minGRU",
    "minlstm": "rnnkit minLSTM",
    "torch-gru": "torch.nn.GRU",
}
TRAIN_KEYS = tuple(k for k in LABELS if k != "torch-gru")
LONG_KEYS = ("torch-gru", "mingru", "minlstm")
# Contenders that are registry cells under their own key.
REGISTERED = ("lnlstm", "lngru", "mingru", "minlstm")
# LSTM options: key -> (accepted argument names, value); the first name found is used.
OPTIONS = {
    "lstm-recurrent-dropout": (("recurrent_dropout", "variational_dropout"), RECURRENT_DROPOUT),
    "lstm-zoneout": (("zoneout",), ZONEOUT),
}


def label_of(key: str) -> str:
    return LABELS[key]


class LSTMCellLoop(nn.Module):
    """The plain-loop anchor: ``torch.nn.LSTMCell`` called once per step, layer by layer,
    the steps taken with ``unbind`` (indexing ``x[:, t]`` in the loop costs several times)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.cells = nn.ModuleList(nn.LSTMCell(d, hidden_size) for d in sizes)

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        for cell in self.cells:
            h = c = x.new_zeros(x.shape[0], cell.hidden_size)  # (B, H)
            outputs = []
            for x_t in x.unbind(1):
                h, c = cell(x_t, (h, c))
                outputs.append(h)
            x = torch.stack(outputs, dim=1)  # (B, T, H)
        return x, None


@dataclass
class Built:
    """One contender on one shape: its module, or why there is none."""

    key: str
    label: str
    module: nn.Module | None = None
    why: str = ""
    optimizer: torch.optim.Optimizer | None = None

    def train_step(self, x: Tensor) -> Callable[[], None]:
        """One training step on ``x`` (B, T, D): forward, mean-square loss of all
        outputs, backward, Adam update (one optimizer per contender, however many
        steps are made)."""
        module = self.module.train()
        if self.optimizer is None:
            self.optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
        optimizer = self.optimizer

        def step() -> None:
            output = module(x)[0]  # (B, T, H)
            output.square().mean().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return step


def option_argument(names: tuple[str, ...]) -> tuple[str, str] | None:
    """Where an LSTM option is taken: ("layer" | "cell", argument name), or None."""
    layer = inspect.signature(Recurrent).parameters
    cell = inspect.signature(LSTMCell).parameters
    for name in names:
        if name in layer:
            return "layer", name
        if name in cell:
            return "cell", name
    return None


def _module(key: str, D: int, H: int, L: int) -> nn.Module | str:
    """The contender's module, or the reason it is not available."""
    if key == "torch-lstm":
        return nn.LSTM(D, H, L, batch_first=True)
    if key == "torch-gru":
        return nn.GRU(D, H, L, batch_first=True)
    if key == "lstmcell-loop":
        return LSTMCellLoop(D, H, L)
    if key == "lstm":
        return LSTM(D, H, L, batch_first=True)
    if key == "lstm-reference":
        return LSTM(D, H, L, batch_first=True, impl="reference")
    if key == "gru":
        return GRU(D, H, L, batch_first=True)
    if key in REGISTERED:
        if key not in CELLS:
            return f"not available (no cell {key!r} in the registry)"
        return Recurrent(CELLS[key], D, H, L, batch_first=True)
    names, value = OPTIONS[key]
    where = option_argument(names)
    if where is None:
        return f"not available (no {names[0]}= option)"
    layer_kwargs: dict[str, Any] = {}
    cell_kwargs: dict[str, Any] = {"forget_bias": 1.0}
    (layer_kwargs if where[0] == "layer" else cell_kwargs)[where[1]] = value
    return Recurrent(LSTMCell, D, H, L, batch_first=True, cell_kwargs=cell_kwargs, **layer_kwargs)


def build(key: str, D: int, H: int, L: int, device: torch.device) -> Built:
    """Build contender ``key`` with input size D, hidden size H and L layers."""
    try:
        module = _module(key, D, H, L)
    except Exception as exc:  # a contender that cannot be built is reported, not fatal
        module = f"failed: {type(exc).__name__}: {exc}".splitlines()[0][:120]
    if isinstance(module, str):
        return Built(key, LABELS[key], why=module)
    return Built(key, LABELS[key], module.to(device))


def path_of(b: Built) -> tuple[str, str]:
    """Which implementation the last forward ran, and why: `Recurrent.last_path` for
    rnnkit's layers."""
    if isinstance(b.module, Recurrent):
        path = b.module.last_path
        return (path.name, path.reason) if path is not None else ("?", "no forward yet")
    if isinstance(b.module, LSTMCellLoop):
        return "Python loop", "torch.nn.LSTMCell once per step"
    if next(b.module.parameters()).is_cuda:
        return "torch.nn (cuDNN)", "torch.nn's fused kernel"
    return "torch.nn kernel", "torch.nn's fused kernel"


def proc_status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (Linux), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise OSError(f"no {field} in /proc/self/status")


def memory_probe(
    key: str, hidden: int, seq_len: int, batch: int, layers: int, device: torch.device
) -> dict:
    """Build one contender, then measure the memory of two training steps.

    A first step on a (1, 2) slice of the batch comes before: it creates Adam's
    moments and loads the code every step runs, so that the figure is what a step
    needs on top of the weights and the optimizer state (activations kept for
    backward, gradients, temporaries, kernel workspaces). CUDA: the peak of torch's
    allocator (``max_memory_allocated``) minus what was allocated before the steps.
    CPU: the process's peak resident set (VmHWM) minus its resident set (VmRSS) before
    the steps; only honest in a fresh process, which is why the CPU probe runs in a
    child (see speed.py's ``memory_section``).
    """
    torch.manual_seed(0)
    x = torch.randn(batch, seq_len, hidden, device=device)
    b = build(key, hidden, hidden, layers, device)
    if b.module is None:
        return {"missing": b.why}
    b.train_step(x[:1, :2])()
    step = b.train_step(x)
    weights = sum(p.numel() * p.element_size() for p in b.module.parameters())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        step(), step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
    else:
        start = proc_status_bytes("VmRSS")
        step(), step()
        peak = proc_status_bytes("VmHWM")  # the process's peak resident set
    return {"weights_bytes": weights, "step_bytes": peak - start, "path": path_of(b)[0]}


def language_model(cell: str, layers: int, hidden: int, device: torch.device) -> LanguageModel:
    """A character-sized (V=65) language model with fresh weights, in eval mode."""
    config = LanguageModelConfig(vocab_size=65, cell=cell, num_layers=layers, hidden_size=hidden)
    return LanguageModel(config).to(device).eval()


# --- THE HOOK for fast generation -------------------------------------------------------
def fast_generation(
    model: LanguageModel, *, numpy: bool = True
) -> tuple[Callable, Callable | None] | None:
    """The fast incremental path for ``model`` as ``(step, prime)``, or None if none exists.

    ``step(tokens (B,), state) -> (logits (B, V), state)`` and the optional
    ``prime(ids (B, P)) -> (logits, state)``, as `rnnkit.decode.generate` takes them;
    the harness times them against ``(model.step, model.prime)`` and checks that both
    give the same tokens for the same seed. Today: `rnnkit.models.lm_stepper`, what
    ``rnnkit generate`` uses by default; ``numpy=False`` keeps batch 1 on torch too.
    """
    try:
        from rnnkit.models.lm_stepper import step_functions
    except ImportError:  # a checkout without the fast path
        return None
    try:
        return step_functions(model, numpy=numpy)
    except TypeError:  # a checkout from before the numpy step
        return step_functions(model) if numpy else None


def fast_path_name(step: Callable, batch: int) -> str:
    """What a fast step runs for ``batch`` rows: numpy, or the layer path that
    `IncrementalRecurrent` follows (`IncrementalRecurrent.path`), if it says."""
    stepper = getattr(step, "__self__", None)
    if batch == 1 and getattr(stepper, "numpy_step", None) is not None:
        return "fast (numpy)"
    path = getattr(getattr(stepper, "rnn", None), "path", None)
    shown = {"fused": "fused kernel", "cell": "cell's sequence path", "reference": "cell step"}
    return f"fast ({shown.get(path.name, path.name)})" if path is not None else "fast"
