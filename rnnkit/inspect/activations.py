"""What each neuron of a character-level language model does along a text.

The viewer of Karpathy, Johnson & Fei-Fei (2015), "Visualizing and Understanding
Recurrent Networks": run a text through the model one character at a time, keep every
layer's output h_t (for an LSTM the cell's h = o * tanh(c), so all three cells give
values in (-1, 1)) and colour each character by one neuron's value. Beside the text: the
model's likeliest next characters at each position, and the neurons that correlate best
with simple properties of the text (inside quotes, inside brackets, position in the
line, start of a word), the kind of "quote cell" and "line-length cell" the paper found.

    trace = trace_activations(load_run("runs/shakespeare"), read_text("play.txt"))
    write_activation_page("play.html", trace)

Shapes: ``T`` characters, ``L`` layers, ``H`` neurons per layer, ``V`` vocabulary.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

import numpy as np
import torch

from rnnkit.atomic import atomic_write_text
from rnnkit.errors import ConfigError, DataError
from rnnkit.runs import Run
from rnnkit.tasks.lm_text import TextModel
from rnnkit.validate import check_int, check_output_path

__all__ = [
    "FEATURES",
    "MAX_CHARS",
    "ActivationTrace",
    "correlate",
    "render_page",
    "strongest_neurons",
    "text_features",
    "trace_activations",
    "write_activation_page",
]

#: How many characters of a text the viewer reads by default: a page stays a few MB.
MAX_CHARS = 5000
#: The text properties the page correlates every neuron with.
FEATURES = ("inside quotes", "inside brackets", "position in line", "start of a word")
# Activations and probabilities are embedded as integers in thousandths (3 decimals):
# "-0.123" costs 6 characters, "-123" 4, and the page holds L * H * T of them.
SCALE = 1000


@dataclass(frozen=True)
class ActivationTrace:
    """A text as one character-level model read it.

    tokens: the T characters as the model saw them (lower-cased if the run folds case).
    layers: per layer, an array (T, H): the layer's output h_t right after reading
      ``tokens[t]``, starting from the zero state.
    top_ids, top_probs: (T, k) the k likeliest next characters after ``tokens[t]``
      (ids into ``vocab``) and their softmax probabilities, likeliest first.
    vocab: the run's tokens in id order.
    total_chars: characters in the text given, before it was cut at ``max_chars``.
    """

    tokens: list[str]
    layers: list[np.ndarray]
    top_ids: np.ndarray
    top_probs: np.ndarray
    vocab: list[str]
    total_chars: int


@torch.no_grad()
def trace_activations(
    run: Run, text: str, *, max_chars: int = MAX_CHARS, top_k: int = 5
) -> ActivationTrace:
    """Read the first ``max_chars`` characters of ``text`` with the model of ``run``.

    Raises:
        ConfigError: not a language-model run, a word-level one, or one trained on
            fixed windows; a bad ``max_chars`` or ``top_k``.
        VocabularyError: the text has characters the model never saw (and no [UNK]).
        DataError: the text is empty.
    """
    lm = TextModel(run)
    if lm.level != "char":
        raise ConfigError(
            f"{run.run_dir} is a {lm.level}-level language model; the activation viewer "
            "colours characters, so it needs a run trained with --level char"
        )
    if lm.window is not None:
        raise ConfigError(
            f"{run.run_dir} was trained on {lm.window}-character windows (--window); the "
            "viewer follows a model that reads the text as one stream"
        )
    check_int("", "max_chars", max_chars, least=1)
    check_int("", "top_k", top_k, least=1)
    total_chars, text = len(text), text[:max_chars]
    ids = lm.encode(text, "text")
    if not ids:
        raise DataError("the text is empty; give some characters to read")
    model = lm.model
    x = model.embed(torch.tensor([ids], device=lm.device))  # (1, T, E)
    # One call per character, carrying the state: the state holds every layer's h_t,
    # where the output of a whole-sequence call holds only the last layer's.
    state, steps = None, []
    for t in range(len(ids)):
        _, state = model.rnn(x[:, t : t + 1], state)
        steps.append(torch.stack([s.h[0] for s in state]))  # (L, H)
    h = torch.stack(steps).float()  # (T, L, H)
    probs = torch.softmax(model.project(h[:, -1]).float(), dim=-1)  # (T, V)
    top = torch.topk(probs, min(top_k, probs.shape[-1]), dim=-1)
    return ActivationTrace(
        tokens=lm.tokenizer.tokenize(text),
        layers=[h[:, layer].cpu().numpy() for layer in range(h.shape[1])],
        top_ids=top.indices.cpu().numpy(),
        top_probs=top.values.cpu().numpy(),
        vocab=lm.vocab.tokens,
        total_chars=total_chars,
    )


def text_features(tokens: Sequence[str]) -> dict[str, np.ndarray]:
    """Each of `FEATURES` at every position t, as known right after reading ``tokens[t]``.

    inside quotes: 1 from an opening double quote (" or “) up to the character before
      its closing one (" or ”); straight quotes simply alternate.
    inside brackets: 1 while more of ( [ { than of ) ] } have been read (an unmatched
      closing bracket does not count below zero); the opening bracket is inside.
    position in line: characters read since the last newline: 0 at a newline, 1 at the
      next character; the text's start counts as a newline.
    start of a word: 1 at a letter or digit that does not follow one.
    """
    T = len(tokens)
    quotes, brackets, column, starts = (np.zeros(T) for _ in range(4))
    inside, depth, since = False, 0, 0
    for t, ch in enumerate(tokens):
        if ch == '"':
            inside = not inside
        elif ch in "\u201c\u201d":
            inside = ch == "\u201c"
        depth = depth + 1 if ch in "([{" else max(depth - 1, 0) if ch in ")]}" else depth
        since = 0 if ch == "\n" else since + 1
        quotes[t], brackets[t], column[t] = inside, depth > 0, since
        starts[t] = ch.isalnum() and (t == 0 or not tokens[t - 1].isalnum())
    return dict(zip(FEATURES, (quotes, brackets, column, starts), strict=True))


def correlate(activations: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson's r between each column of ``activations`` (T, H) and ``feature`` (T,);
    NaN for a neuron or a feature that is constant along the text (r is undefined)."""
    a = np.asarray(activations, dtype=np.float64)
    f = np.asarray(feature, dtype=np.float64)
    a = a - a.mean(axis=0)  # (T, H)
    f = f - f.mean()  # (T,)
    norms = np.sqrt((a * a).sum(axis=0)) * np.sqrt((f * f).sum())  # (H,)
    # A saturated neuron is constant up to rounding; its r would be noise, not signal.
    constant = (a.std(axis=0) < 1e-7) | (f.std() < 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a.T @ f) / norms
    return np.where(constant, np.nan, r)


def strongest_neurons(
    trace: ActivationTrace, features: Mapping[str, np.ndarray] | None = None, top: int = 10
) -> dict[str, list[tuple[int, int, float]]]:
    """Per feature, the ``top`` (layer, neuron, r) of all layers with the largest |r|,
    strongest first; empty for a feature that is constant on this text."""
    features = text_features(trace.tokens) if features is None else features
    strongest = {}
    for name, feature in features.items():
        found = [
            (layer, neuron, float(r))
            for layer, values in enumerate(trace.layers)
            for neuron, r in enumerate(correlate(values, feature))
            if not np.isnan(r)
        ]
        found.sort(key=lambda item: -abs(item[2]))
        strongest[name] = found[:top]
    return strongest


def render_page(
    trace: ActivationTrace, *, layer: int | None = None, neuron: int = 0, title: str = "activations"
) -> str:
    """The self-contained HTML page (inline CSS, script and data; nothing fetched) that
    opens on ``layer`` (default: the last) and ``neuron``; both count from 0."""
    layer = len(trace.layers) - 1 if layer is None else layer
    check_int("", "layer", layer, least=0, most=len(trace.layers) - 1)
    check_int("", "neuron", neuron, least=0, most=trace.layers[layer].shape[1] - 1)
    strongest = strongest_neurons(trace)
    data = {
        "scale": SCALE,
        "activations": [_thousandths(values.T) for values in trace.layers],  # [l][k][t]
        "vocab": trace.vocab,
        "top_ids": trace.top_ids.tolist(),
        "top_probs": _thousandths(trace.top_probs),
        "features": {
            name: [{"layer": l, "neuron": k, "r": round(r, 3)} for l, k, r in found]
            for name, found in strongest.items()
        },
        "layer": layer,
        "neuron": neuron,
    }
    cut = f", cut from {trace.total_chars}" if trace.total_chars > len(trace.tokens) else ""
    H = trace.layers[0].shape[1]
    summary = f"{len(trace.tokens)} characters{cut}; {len(trace.layers)} layer(s) of {H} neurons"
    options = "".join(f'<option value="{l}">layer {l}</option>' for l in range(len(trace.layers)))
    return _PAGE.substitute(
        title=html.escape(title),
        summary=html.escape(summary),
        options=options,
        text="".join(_char_html(ch) for ch in trace.tokens),
        features="".join(_feature_table(name, found) for name, found in strongest.items()),
        data=_script_json(data),
    )


def write_activation_page(
    path: str | os.PathLike[str],
    trace: ActivationTrace,
    *,
    layer: int | None = None,
    neuron: int = 0,
    title: str = "activations",
) -> Path:
    """`render_page` into the file ``path`` (written atomically, after every check)."""
    check_output_path(path, "path")
    page = render_page(trace, layer=layer, neuron=neuron, title=title)
    atomic_write_text(path, page)
    return Path(path)


def _thousandths(values: np.ndarray) -> list:
    return np.rint(np.asarray(values, dtype=np.float64) * SCALE).astype(np.int64).tolist()


def _char_html(ch: str) -> str:
    if ch == "\n":  # shown as ↵, so a newline has a cell to colour and hover
        return '<span class="nl">\u21b5</span>\n'
    return f"<span>{html.escape(ch)}</span>"


def _feature_table(name: str, found: list[tuple[int, int, float]]) -> str:
    rows = "".join(
        f'<tr data-layer="{l}" data-neuron="{k}"><td>layer {l}</td><td>neuron {k}</td>'
        f"<td>{r:+.3f}</td></tr>"
        for l, k, r in found
    )
    rows = rows or '<tr><td colspan="3">constant in this text</td></tr>'
    return f"<div class='feature'><h3>{html.escape(name)}</h3><table>{rows}</table></div>"


def _script_json(value: object) -> str:
    """JSON that cannot end its <script> early: < > & only ever occur inside JSON
    strings, where their \\u escapes mean the same characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
#controls { position: sticky; top: 0; background: #fff; padding: .5em 0; }
#controls > * { margin-right: .5em; }
#neuron { width: 5em; }
#scale { display: inline-block; width: 12em; height: .9em; vertical-align: middle;
  background: linear-gradient(to right, rgb(0,0,255), rgb(255,255,255), rgb(255,0,0)); }
#text { font-family: ui-monospace, monospace; white-space: pre-wrap; line-height: 1.5;
  border: 1px solid #ddd; padding: .6em; }
#text span.nl { color: #999; }
#tip { position: fixed; display: none; background: #fff; border: 1px solid #888;
  padding: .4em .6em; font-size: 85%; pointer-events: none; box-shadow: 2px 2px 6px #aaa; }
#tip td { padding: 0 .5em 0 0; font-family: ui-monospace, monospace; }
#features { display: flex; flex-wrap: wrap; gap: 2em; }
.feature table { border-collapse: collapse; }
.feature td { padding: .1em .6em .1em 0; }
.feature tr[data-layer] { cursor: pointer; }
.feature tr[data-layer]:hover { background: #eef; }
.feature tr.on { background: #dde; font-weight: bold; }
</style></head><body>
<h1>$title</h1>
<p>$summary. Each character is coloured by the chosen neuron's output after reading it
(blue -1, white 0, red +1); hover a character for the model's likeliest next characters.</p>
<div id="controls">
<select id="layer">$options</select>
<button id="prev">&#9664; prev</button>
<label>neuron <input id="neuron" type="number" min="0" value="0"></label>
<button id="next">next &#9654;</button>
<span>-1 <span id="scale"></span> +1</span>
</div>
<div id="text">$text</div>
<div id="tip"></div>
<h2>Neurons that follow the text</h2>
<p>Largest |Pearson r| between a neuron's output and a property of the text; click one
to show it.</p>
<div id="features">$features</div>
<script id="data" type="application/json">$data</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const spans = document.querySelectorAll("#text > span");
const layerBox = document.getElementById("layer"), neuronBox = document.getElementById("neuron");
const tip = document.getElementById("tip");
let layer = D.layer, neuron = D.neuron;

function colour(v) {  // -1 blue, 0 white, +1 red
  const c = Math.round(255 * (1 - Math.min(1, Math.abs(v))));
  return v >= 0 ? "rgb(255," + c + "," + c + ")" : "rgb(" + c + "," + c + ",255)";
}
function show() {
  const size = D.activations[layer].length;
  neuron = ((neuron % size) + size) % size;
  layerBox.value = layer; neuronBox.value = neuron; neuronBox.max = size - 1;
  const values = D.activations[layer][neuron];
  spans.forEach(function (span, t) { span.style.background = colour(values[t] / D.scale); });
  document.querySelectorAll(".feature tr[data-layer]").forEach(function (row) {
    row.classList.toggle("on", +row.dataset.layer === layer && +row.dataset.neuron === neuron);
  });
}
function shown(token) { return token === "\\n" ? "\\u21b5" : token === " " ? "\\u2423" : token; }
function cells(row, texts) {
  const tr = row.insertRow();
  texts.forEach(function (text) { tr.insertCell().textContent = text; });
}
spans.forEach(function (span, t) {
  span.addEventListener("mousemove", function (event) {
    const value = D.activations[layer][neuron][t] / D.scale;
    const table = document.createElement("table");
    cells(table, ["after", shown(span.textContent), "layer " + layer + " neuron " + neuron,
      value.toFixed(3)]);
    D.top_ids[t].forEach(function (id, j) {
      cells(table, [j === 0 ? "next" : "", shown(D.vocab[id]),
        (100 * D.top_probs[t][j] / D.scale).toFixed(1) + "%", ""]);
    });
    tip.replaceChildren(table);
    tip.style.display = "block";
    // Beside the pointer, kept inside the window near its right and bottom edges.
    tip.style.left = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + "px";
    tip.style.top = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 8) + "px";
  });
  span.addEventListener("mouseleave", function () { tip.style.display = "none"; });
});
layerBox.addEventListener("change", function () { layer = +layerBox.value; show(); });
neuronBox.addEventListener("change", function () { neuron = Math.floor(+neuronBox.value) || 0; show(); });
document.getElementById("prev").addEventListener("click", function () { neuron -= 1; show(); });
document.getElementById("next").addEventListener("click", function () { neuron += 1; show(); });
document.querySelectorAll(".feature tr[data-layer]").forEach(function (row) {
  row.addEventListener("click", function () {
    layer = +row.dataset.layer; neuron = +row.dataset.neuron; show();
  });
});
show();
</script>
</body></html>
""")
