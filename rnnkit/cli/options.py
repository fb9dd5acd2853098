"""Command-line options shared by several subcommands, defined once.

Every option's ``dest`` is the name of the config field it sets (``--minutes`` sets
``max_minutes``), so an error about a field can be restated with the flag the user
typed (`rnnkit.cli.main`), and every default is None ("not given"): the library fills
in the task's and the time budget's defaults (`rnnkit.runs.settings`).
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, fields
from typing import Any

from rnnkit.data.text import read_text
from rnnkit.decode import SamplingConfig
from rnnkit.decode.stopping import unescape_stop
from rnnkit.errors import ConfigError
from rnnkit.runs import Flag
from rnnkit.train.config import MONITORS, OPTIMIZERS, SCHEDULES

Group = argparse.ArgumentParser | argparse._ArgumentGroup


def _underscored(value: str) -> str:
    """A choice as typed, with hyphens read as the underscores of its name."""
    return value.replace("-", "_")


#: (flag, dest = TrainConfig field, argparse keywords)
TRAINING_OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "--minutes",
        "max_minutes",
        {
            "type": float,
            "help": "time budget (the task's default, 10 for lm, when no budget is given)",
        },
    ),
    ("--steps", "max_steps", {"type": int, "help": "step budget"}),
    ("--epochs", "max_epochs", {"type": float, "help": "epoch budget"}),
    ("--optimizer", "optimizer", {"choices": OPTIMIZERS, "help": "default by task (adamw for lm)"}),
    ("--lr", "lr", {"type": float, "help": "peak learning rate; default by task and budget"}),
    (
        "--weight-decay",
        "weight_decay",
        {"type": float, "help": "default by budget with adamw (decoupled), else 0"},
    ),
    (
        "--schedule",
        "schedule",
        {"choices": SCHEDULES, "help": "learning-rate decay (default cosine)"},
    ),
    ("--warmup", "warmup_steps", {"type": int, "help": "warm-up steps (default 0)"}),
    ("--clip-norm", "clip_norm", {"type": float, "help": "clip the gradient norm (default 5)"}),
    ("--clip-value", "clip_value", {"type": float, "help": "clip each gradient element instead"}),
    (
        "--max-bad-steps",
        "max_bad_steps",
        {
            "type": int,
            "help": "skip steps with a NaN/inf loss or gradient, stopping after more than "
            "this many in a row (default 10; 0 stops at the first)",
        },
    ),
    (
        "--ema",
        "ema_decay",
        {
            "type": float,
            "metavar": "DECAY",
            "help": "evaluate and save a moving average of the weights, e.g. 0.999 (default off)",
        },
    ),
    ("--eval-every", "eval_every", {"type": int, "help": "steps between evaluations"}),
    (
        "--early-stopping",
        "early_stopping",
        {
            "type": int,
            "metavar": "EVALS",
            "help": "stop after this many evaluations without a new best",
        },
    ),
    (
        "--monitor",
        "monitor",
        {
            "choices": tuple(MONITORS),
            "type": _underscored,  # macro-f1, as a flag is spelt, is macro_f1
            "help": "the validation figure that chooses the best weights and early stopping: "
            "loss (default, lowest), or accuracy or macro_f1 (highest; classify)",
        },
    ),
    ("--checkpoint-every", "checkpoint_every", {"type": int, "help": "steps between checkpoints"}),
    ("--seed", "seed", {"type": int, "help": "default 1234"}),
    (
        "--device",
        "device",
        {"help": "cpu (default), cuda, cuda:1, mps; on --resume, continue on another device"},
    ),
    (
        "--precision",
        "precision",
        {
            "choices": ("auto", "fp32", "bf16"),
            "help": "bf16 autocast in training steps; auto (default) = bf16 where native",
        },
    ),
    (
        "--tensorboard",
        "tensorboard",
        {"action": "store_const", "const": True, "help": "log to TensorBoard"},
    ),
    (
        "--no-progress",
        "progress",
        {"action": "store_const", "const": False, "help": "no progress bar"},
    ),
    (
        "--sparse-embeddings",
        "sparse_embeddings",
        {
            "action": "store_const",
            "const": True,
            "help": "update only the embedding rows a batch uses (lazy Adam): faster with a "
            "large vocabulary (adam/adamw, one process)",
        },
    ),
    (
        "--deterministic",
        "deterministic",
        {
            "action": "store_const",
            "const": True,
            "help": "deterministic algorithms only: the same weights bit for bit on every "
            "run (needs --steps or --epochs)",
        },
    ),
)


def _metavar(flag: str) -> str:
    """How help shows a flag's value: --max-len -> MAX_LEN."""
    return flag[2:].upper().replace("-", "_")


def add_training_options(group: Group) -> list[str]:
    """The training flags of every `train` subcommand; returns their dests."""
    for flag, dest, kwargs in TRAINING_OPTIONS:
        if "type" in kwargs and "metavar" not in kwargs:
            kwargs = {**kwargs, "metavar": _metavar(flag)}
        group.add_argument(flag, dest=dest, default=None, **kwargs)
    return [dest for _, dest, _ in TRAINING_OPTIONS]


def add_config_flags(
    group: Group, config: type, flags: Mapping[str, Flag], skip: Iterable[str] = ()
) -> list[str]:
    """One flag per field of the config dataclass (`--field-name`, or the name in
    ``flags``), default None; returns the dests (= field names). Fields of types a
    flag cannot spell are left out."""
    hints = typing.get_type_hints(config)
    dests = []
    for f in fields(config):
        if f.name in skip:
            continue
        kind = _flag_type(hints[f.name])
        if kind is None:
            continue
        spec = flags.get(f.name, Flag())
        option = "--" + (spec.name or f.name).replace("_", "-")
        help_text = spec.help or ""
        if f.default is not MISSING and f.default is not None and "default" not in help_text:
            help_text = f"{help_text} (default {f.default})".strip()
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text}
        metavar = _metavar(option)
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind is tuple:  # integers, or the word none for an empty tuple
            kwargs.update(nargs="+", type=_int_or_none, metavar=metavar, action=_Ints)
        elif kind == "str_tuple":
            kwargs.update(nargs="+", metavar=metavar)
        elif kind == "int_or_ints":
            kwargs.update(nargs="+", type=int, metavar=metavar, action=_IntOrInts)
        else:
            kwargs.update(type=kind, metavar=metavar)
            if spec.choices:
                kwargs["choices"] = spec.choices
        group.add_argument(option, **kwargs)
        dests.append(f.name)
    return dests


def _int_or_none(text: str) -> int | None:
    """An integer, or None for the word none (any case)."""
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers or none, got {text!r}") from None


class _Ints(argparse.Action):
    """`--dense 64 32` gives (64, 32); `--dense none` gives (), no layers at all."""

    def __call__(self, parser, namespace, values, option_string=None):
        if None in values and len(values) > 1:
            parser.error(f"argument {option_string}: none stands alone, as {option_string} none")
        setattr(namespace, self.dest, () if None in values else tuple(values))


class _IntOrInts(argparse.Action):
    """`--hidden 64` gives 64, `--hidden 64 32` gives (64, 32)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values[0] if len(values) == 1 else tuple(values))


def _flag_type(hint: Any) -> type | str | None:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 2 and int in args and any(typing.get_origin(a) is tuple for a in args):
            return "int_or_ints"
        if len(args) != 1:
            return None
        hint = args[0]
    if typing.get_origin(hint) is tuple:
        return "str_tuple" if typing.get_args(hint)[:1] == (str,) else tuple
    return hint if hint in (bool, int, float, str) else None


def add_weights_option(p: argparse.ArgumentParser) -> None:
    """--weights: which of a run's saved weights a command loads."""
    p.add_argument(
        "--weights",
        choices=["best", "last"],
        default="best",
        help="best (lowest validation loss; the default) or last (the latest checkpoint)",
    )


def settings(args: argparse.Namespace, dests: Iterable[str]) -> dict[str, Any]:
    """The settings the user gave among ``dests`` (None = not given)."""
    return {d: getattr(args, d) for d in dests if getattr(args, d) is not None}


#: The sampling flags, their settings and their defaults when not given.
SAMPLING_FLAGS = {"--temperature": ("temperature", 0.8), "--top-k": ("top_k", None),
                  "--top-p": ("top_p", None), "--seed": ("seed", None),
                  "--samples": ("num_samples", 1)}  # fmt: skip


def add_sampling_options(
    parser: argparse.ArgumentParser, *, length: int = 500, free_text: bool = True
) -> None:
    """The sampling flags (`SAMPLING_FLAGS`, not given = None); ``free_text`` adds the
    ones of open-ended generation: --length, --greedy and --stop."""
    group = parser.add_argument_group("sampling")
    if free_text:
        group.add_argument(
            "--length", dest="max_new_tokens", type=int, default=length, help="tokens to generate"
        )
    group.add_argument("--temperature", type=float, help="0 = always the likeliest (default 0.8)")
    group.add_argument(
        "--top-k", dest="top_k", type=int, help="sample among the K likeliest tokens only"
    )
    group.add_argument(
        "--top-p",
        dest="top_p",
        type=float,
        help="sample among the likeliest tokens that hold probability P (nucleus)",
    )
    if free_text:
        group.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    group.add_argument("--seed", type=int, help="fixed seed: the same samples each time")
    if free_text:
        group.add_argument(
            "--stop", default=None, help=r"stop a sample once it writes this string (\n, \t read)"
        )
    group.add_argument(
        "--samples", dest="num_samples", type=int, help="how many samples at once (default 1)"
    )


def sampling_given(args: argparse.Namespace) -> list[str]:
    """The sampling flags given on this command line."""
    return [flag for flag, (dest, _) in SAMPLING_FLAGS.items() if getattr(args, dest) is not None]


def sampling_from_args(args: argparse.Namespace) -> SamplingConfig:
    """The SamplingConfig of the flags (`add_sampling_options`), defaults filled in."""
    chosen = {
        dest: default if getattr(args, dest) is None else getattr(args, dest)
        for dest, default in SAMPLING_FLAGS.values()
    }
    if getattr(args, "greedy", False):
        shaping = [f for f in ("--temperature", "--top-k", "--top-p") if f in sampling_given(args)]
        if shaping:
            raise ConfigError(
                f"--greedy always takes the likeliest token, so {shaping[0]} would change "
                f"nothing; leave out one of them"
            )
    stop = getattr(args, "stop", None)
    return SamplingConfig(
        **chosen,
        greedy=getattr(args, "greedy", False),
        max_new_tokens=getattr(args, "max_new_tokens", SamplingConfig.max_new_tokens),
        stop=None if stop is None else unescape_stop(stop),
    )


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")


def add_json_option(parser: argparse.ArgumentParser, what: str = "the results") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def add_input_file_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--file F`` (one input a line; ``-`` reads standard input) and its ``--encoding``."""
    parser.add_argument("--file", help=f"{what}, one per line (- reads standard input)")
    parser.add_argument(
        "--encoding",
        default="utf-8",
        help="encoding of --file: utf-8 (default), auto (by byte-order mark), latin-1, ...",
    )


def input_file_lines(args: argparse.Namespace, *, keep_blank: bool = False) -> list[str]:
    """The non-blank lines of ``--file`` (every line with ``keep_blank``, for output
    that must line up with the input), read by the project's text reader (binary,
    empty and undecodable files refused with one line naming the file)."""
    if not args.file:
        return []
    text = read_text(args.file, encoding=args.encoding)
    return [line for line in text.splitlines() if keep_blank or line.strip()]
