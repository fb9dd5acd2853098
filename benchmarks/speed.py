"""Speed of rnnkit's layers, cells and generation against torch.nn, side by side in one run.

Each section builds all its contenders in one process and times them round-robin
(round after round, each contender once per round, the starting one rotating), so a
slow spell of the machine hits all of them alike. A figure is the median over the
rounds, with the spread (min-max); ratios are against torch.nn.LSTM on the same
shape. Prints Markdown tables ready for the README, headed by the machine they ran on;
``--json`` keeps every raw timing. What each figure means: docs/speed.md.

Sections (``--sections``, default all of them):

* ``train``: training tokens/s, one step = forward + backward + Adam, 2 layers,
  B=64, D=H, at H = 128, 512 and T = 100, 1000, and which path each layer ran;
* ``long``: minGRU/minLSTM training step at T=4096 (B=16, H=256, 1 layer) against a
  GRU of the same width: seconds per step and the speed-up;
* ``generate``: generation tokens/s of 2-layer 512-unit LSTM and GRU language models
  (V=65) at batch 1 and 32, reference step against the fast path, 5 runs each;
* ``memory``: peak memory of one training step per contender.

    python benchmarks/speed.py                              # all, ~10 min on 2 cores
    python benchmarks/speed.py --quick                      # smoke test, under a minute
    python benchmarks/speed.py --sections train --hidden 512 --seq-len 100
    python benchmarks/speed.py --device cuda --json speed-cuda.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from statistics import median

import torch
from speed_contenders import (  # this script's sibling, on sys.path when run as a script
    LONG_KEYS,
    TRAIN_KEYS,
    build,
    fast_generation,
    fast_path_name,
    label_of,
    language_model,
    memory_probe,
    path_of,
)

from rnnkit.decode import SamplingConfig, generate

SECTIONS = ("train", "long", "generate", "memory")
REFERENCE = "torch-lstm"


# --- the machine and the clock --------------------------------------------------------
def machine(device: torch.device) -> dict:
    """What the figures ran on: CPU model, cores, threads, torch, GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def describe(info: dict) -> str:
    text = (
        f"{info['cpu']} ({info['logical_cpus']} logical CPUs), torch {info['torch']}, "
        f"{info['torch_threads']} threads, Python {info['python']}, device {info['device']}"
    )
    if "gpu" in info:
        text += f": {info['gpu']}, CUDA {info['cuda']}, cuDNN {info['cudnn']}"
    return text


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, n: int, device: torch.device) -> float:
    """Seconds per call of ``fn``, averaged over ``n`` calls in a row."""
    sync(device)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    sync(device)
    return (time.perf_counter() - start) / n


def round_robin(
    entries: dict, rounds: int, device, min_time: float, max_step: float
) -> dict[str, str]:
    """Time every ``entries[key]["fn"]`` once per round, in a rotating order.

    Each entry's first call (two when the first is fast) is its warm-up and
    calibration: a measurement repeats the call enough times to last ``min_time``; an
    entry whose warm-up took over ``max_step`` seconds is not run again and keeps that
    one figure. An entry whose warm-up raises is dropped; returns
    ``{key: "failed: ..."}`` for those.
    """
    failed: dict[str, str] = {}
    for key in list(entries):
        e = entries[key]
        try:
            e["warmup_s"] = timed(e["fn"], 1, device)
            if e["warmup_s"] < 1.0:  # a first call's set-up costs would skew calibration
                e["warmup_s"] = timed(e["fn"], 1, device)
        except Exception as exc:  # a contender that breaks is reported, not fatal
            entries.pop(key)
            e["error"] = f"failed: {type(exc).__name__}: {exc}".splitlines()[0][:120]
            failed[key] = e["error"]
            continue
        e["calls"] = max(1, math.ceil(min_time / max(e["warmup_s"], 1e-9)))
        e["times"] = [e["warmup_s"]] if e["warmup_s"] > max_step else []
        e["single"] = bool(e["times"])
    keys = list(entries)
    for r in range(rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            e = entries[key]
            if not e["single"]:
                e["times"].append(timed(e["fn"], e["calls"], device))
    return failed


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def fmt_mib(x: float) -> str:
    return f"{x:,.1f}" if abs(x) >= 10 else f"{x:.2f}"


def ratio_of(base: list[float] | None, seconds: float) -> float | None:
    """How many times faster than ``base`` (its median); None without a base."""
    return median(base) / seconds if base else None


def fmt_ratio(r: float | None, digits: int = 2) -> str:
    return "-" if r is None else f"{r:.{digits}f}x"


# --- sections ---------------------------------------------------------------------------
def race(keys, x: torch.Tensor, layers: int, rounds: int, args, device) -> list[dict]:
    """Training steps of contenders ``keys`` on ``x`` (B, T, D=H), timed round-robin;
    one row per contender: its timings and path, or why it did not run."""
    built = {k: build(k, x.shape[-1], x.shape[-1], layers, device) for k in keys}
    entries = {k: {"fn": b.train_step(x)} for k, b in built.items() if b.module}
    failed = round_robin(entries, rounds, device, args.min_time, args.max_step)
    rows = []
    for key, b in built.items():
        row = {"key": key, "label": b.label}
        if key not in entries:
            row["missing"] = failed.get(key, b.why)
        else:
            e = entries[key]
            row |= dict(zip(("path", "path_reason"), path_of(b), strict=True))
            row |= {"seconds": e["times"], "single_run": e["single"]}
            row |= {"calls_per_time": e["calls"], "warmup_s": e["warmup_s"]}
            row |= {"median_s": median(e["times"])}
        rows.append(row)
    return rows


def train_section(args, device) -> list[dict]:
    print(
        f"\n### Training tokens/s\n\n{args.layers} layers, B={args.batch}, D=H, one step = "
        f"forward + backward + Adam; median of {args.rounds} rounds at T <= 100, "
        f"{args.long_rounds} above (one run when a step takes over {args.max_step:g} s)\n"
    )
    print("| H | T | implementation | path | tokens/s | spread | vs torch.nn.LSTM |")
    print("|---:|---:|---|---|---:|---:|---:|")
    rows = []
    for hidden in args.hidden:
        for seq_len in args.seq_len:
            torch.manual_seed(0)
            x = torch.randn(args.batch, seq_len, hidden, device=device)
            rounds = args.rounds if seq_len <= 100 else args.long_rounds
            got = race(args.contenders, x, args.layers, rounds, args, device)
            base = next(
                (r["seconds"] for r in got if r["key"] == REFERENCE and "seconds" in r), None
            )
            tokens = args.batch * seq_len
            for row in got:
                row |= {"hidden": hidden, "seq_len": seq_len, "tokens_per_step": tokens}
                head = f"| {hidden} | {seq_len} | {row['label']} |"
                if "missing" in row:
                    print(f"{head} {row['missing']} | | | |")
                    continue
                t = row["seconds"]
                row["ratio"] = ratio_of(base, row["median_s"])
                spread = (
                    "1 run"
                    if row["single_run"]
                    else f"{fmt_rate(tokens / max(t))}-{fmt_rate(tokens / min(t))}"
                )
                print(
                    f"{head} {row['path']} | {fmt_rate(tokens / row['median_s'])} | {spread} | "
                    f"{fmt_ratio(row['ratio'])} |",
                    flush=True,
                )
            rows += got
    return rows


def long_section(args, device) -> list[dict]:
    B, T, H = args.long_batch, args.long_seq_len, args.long_hidden
    print(
        f"\n### minGRU / minLSTM at long T\n\nOne training step (forward + backward + Adam), "
        f"1 layer, B={B}, T={T}, D=H={H}; median of {args.rounds} rounds\n"
    )
    print("| implementation | path | s/step | spread | faster than torch.nn.GRU |")
    print("|---|---|---:|---:|---:|")
    torch.manual_seed(0)
    x = torch.randn(B, T, H, device=device)
    rows = race(LONG_KEYS, x, 1, args.rounds, args, device)
    base = next((r["seconds"] for r in rows if r["key"] == "torch-gru" and "seconds" in r), None)
    for row in rows:
        row |= {"batch": B, "seq_len": T, "hidden": H}
        if "missing" in row:
            print(f"| {row['label']} | {row['missing']} | | | |")
            continue
        t = row["seconds"]
        row["speedup"] = ratio_of(base, row["median_s"])
        spread = "1 run" if row["single_run"] else f"{min(t):.3f}-{max(t):.3f}"
        print(
            f"| {row['label']} | {row['path']} | {row['median_s']:.3f} | {spread} | "
            f"{fmt_ratio(row['speedup'], 1)} |",
            flush=True,
        )
    return rows


def generate_section(args, device) -> list[dict]:
    N, prime_ids = args.gen_tokens, list(range(8))
    print(
        f"\n### Generation tokens/s\n\n{args.gen_layers}-layer {args.gen_hidden}-unit language "
        f"model, V=65, {N} new tokens per row after an 8-token prime, sampling at "
        f"temperature 1; median of {args.gen_runs} runs, spread min-max\n"
    )
    print("| cell | batch | path | tokens/s | spread | vs reference | same tokens |")
    print("|---|---:|---|---:|---:|---:|---|")
    entries, meta = {}, {}
    for cell in args.gen_cells:
        torch.manual_seed(0)
        model = language_model(cell, args.gen_layers, args.gen_hidden, device)
        fast = fast_generation(model)
        torch_only = fast_generation(model, numpy=False)  # batch 1 on torch's ops too
        for batch in args.gen_batch:
            cfg = SamplingConfig(max_new_tokens=N, seed=0, num_samples=batch)
            paths = {"reference": (model.step, model.prime)}
            if fast is not None:
                paths["fast"] = fast
            if batch == 1 and torch_only is not None:
                paths["fast, torch"] = torch_only
            for path, (step, prime) in paths.items():
                key = (cell, batch, path)
                meta[key] = {"cfg": cfg, "step": step, "prime": prime}

                def run(m=meta[key]) -> None:
                    m["tokens"] = generate(
                        m["step"], prime_ids, m["cfg"], prime=m["prime"], device=device
                    )

                entries[key] = {"fn": run}
            if fast is None:
                meta[(cell, batch, "fast")] = None
    failed = round_robin(entries, args.gen_runs, device, 0.0, float("inf"))
    rows = []
    for key, m in meta.items():
        cell, batch, path = key
        shown = path
        if m is not None and path != "reference":
            name = fast_path_name(m["step"], batch)  # e.g. "fast (numpy)"
            shown = name if path == "fast" else name.replace("fast", path, 1)
        row = {"cell": cell, "batch": batch, "path": shown, "new_tokens": N}
        if m is None:
            row["missing"] = "no fast generation path yet"
            print(f"| {cell} | {batch} | fast | not available (no fast step yet) | | | |")
            rows.append(row)
            continue
        if key not in entries:
            row["missing"] = failed[key]
            print(f"| {cell} | {batch} | {shown} | {failed[key]} | | | |")
            rows.append(row)
            continue
        t = entries[key]["times"]
        ratio = ratio_of(entries.get((cell, batch, "reference"), {}).get("times"), median(t))
        same = m["tokens"] == meta[(cell, batch, "reference")].get("tokens")
        row |= {"seconds": t, "ratio": ratio, "same_tokens": same}
        tokens = batch * N
        print(
            f"| {cell} | {batch} | {shown} | {fmt_rate(tokens / median(t))} | "
            f"{fmt_rate(tokens / max(t))}-{fmt_rate(tokens / min(t))} | "
            f"{fmt_ratio(ratio)} | {'-' if path == 'reference' else 'yes' if same else 'NO'} |",
            flush=True,
        )
        rows.append(row)
    return rows


def memory_section(args, device) -> list[dict]:
    H, T = args.mem_hidden, args.mem_seq_len
    what = (
        "peak of torch's CUDA allocator"
        if device.type == "cuda"
        else "peak resident memory of a fresh process per contender"
    )
    print(
        f"\n### Peak memory of a training step\n\n{args.layers} layers, B={args.batch}, "
        f"T={T}, D=H={H}; {what} during two steps (forward + backward + Adam), above what "
        "it held before them (weights, Adam's moments); see docs/speed.md\n"
    )
    print("| implementation | path | step MiB | vs torch.nn.LSTM | weights MiB |")
    print("|---|---|---:|---:|---:|")
    rows, base = [], None
    for key in args.contenders:
        if device.type == "cuda":
            try:
                got = memory_probe(key, H, T, args.batch, args.layers, device)
            except Exception as exc:  # reported, not fatal
                got = {"missing": f"failed: {type(exc).__name__}: {exc}".splitlines()[0][:120]}
        else:
            cmd = [sys.executable, __file__, "--memory-child", key, "--threads"]
            cmd += [str(torch.get_num_threads()), "--mem-hidden", str(H)]
            cmd += ["--mem-seq-len", str(T), "--batch", str(args.batch)]
            cmd += ["--layers", str(args.layers)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                got = {"missing": "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]}
            else:
                got = json.loads(proc.stdout.strip().splitlines()[-1])
        label = label_of(key)
        row = {"key": key, "label": label, "hidden": H, "seq_len": T} | got
        if "missing" in got:
            print(f"| {label} | {got['missing']} | | | |")
        else:
            mib = got["step_bytes"] / 2**20
            base = mib if key == REFERENCE else base
            ratio = f"{mib / base:.2f}x" if base else "-"
            print(
                f"| {label} | {got['path']} | {fmt_mib(mib)} | {ratio} | "
                f"{fmt_mib(got['weights_bytes'] / 2**20)} |",
                flush=True,
            )
        rows.append(row)
    return rows


# --- command line -------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", type=Path, default=None, help="write all raw timings here")
    p.add_argument("--quick", action="store_true", help="tiny shapes: a smoke test")
    p.add_argument(
        "--contenders",
        nargs="+",
        choices=TRAIN_KEYS,
        default=[k for k in TRAIN_KEYS if k != "lstm-reference"],
        help="training/memory contenders (default: all but lstm-reference)",
    )
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 512])
    p.add_argument("--seq-len", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5, help="rounds at T <= 100 and in long")
    p.add_argument("--long-rounds", type=int, default=3, help="rounds at T > 100")
    p.add_argument("--min-time", type=float, default=0.3, help="seconds per measurement")
    p.add_argument("--max-step", type=float, default=20.0, help="slower steps: one run")
    p.add_argument("--long-seq-len", type=int, default=4096)
    p.add_argument("--long-batch", type=int, default=16)
    p.add_argument("--long-hidden", type=int, default=256)
    p.add_argument("--gen-cells", nargs="+", default=["lstm", "gru"])
    p.add_argument("--gen-batch", type=int, nargs="+", default=[1, 32])
    p.add_argument("--gen-hidden", type=int, default=512)
    p.add_argument("--gen-layers", type=int, default=2)
    p.add_argument("--gen-tokens", type=int, default=500, help="new tokens per row")
    p.add_argument("--gen-runs", type=int, default=5)
    p.add_argument("--mem-hidden", type=int, default=512)
    p.add_argument("--mem-seq-len", type=int, default=100)
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.seq_len, args.batch = [32], [12], 4
        args.rounds, args.long_rounds, args.min_time = 2, 1, 0.0
        args.long_seq_len, args.long_batch, args.long_hidden = 64, 2, 32
        args.gen_hidden, args.gen_tokens, args.gen_runs, args.gen_batch = 64, 12, 2, [1, 4]
        args.mem_hidden, args.mem_seq_len = 32, 12
    if REFERENCE not in args.contenders:
        args.contenders.insert(0, REFERENCE)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.memory_child:
        got = memory_probe(
            args.memory_child, args.mem_hidden, args.mem_seq_len, args.batch, args.layers, device
        )
        print(json.dumps(got))
        return
    info = machine(device)
    print(f"Machine: {describe(info)}")
    started = time.perf_counter()
    results: dict = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}}
    sections = {
        "train": train_section,
        "long": long_section,
        "generate": generate_section,
        "memory": memory_section,
    }
    for name in args.sections:
        t0 = time.perf_counter()
        try:
            results[name] = sections[name](args, device)
        except Exception:  # one broken section must not cost the others (a GPU lease)
            traceback.print_exc()
            results[name] = "failed: " + traceback.format_exc(limit=1).strip().splitlines()[-1]
            print(f"\nsection {name} {results[name]}", flush=True)
        results[f"{name}_elapsed_s"] = time.perf_counter() - t0
        print(f"\n({name}: {results[f'{name}_elapsed_s']:.0f} s)", flush=True)
    elapsed = time.perf_counter() - started
    results["elapsed_s"] = elapsed
    print(f"\nElapsed: {elapsed:.0f} s ({elapsed / 60:.1f} min)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
        print(f"raw timings: {args.json}")


if __name__ == "__main__":
    main()
