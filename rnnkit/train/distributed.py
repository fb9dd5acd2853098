"""Training one run on several processes (torch.distributed DistributedDataParallel).

Start the processes with torchrun (``torchrun --nproc_per_node N -m rnnkit train ...``,
or ``rnnkit train ... --nproc N``, which runs torchrun for you: `rnnkit.train.launch`);
each finds its rank in the environment torchrun sets, and `join` connects it to the
others: gloo carries the small CPU messages below, and NCCL a GPU run's gradients.

The design keeps every task unaware of it:

- **Data**: every rank builds the same task from the same seed, so every rank draws the
  same global batch of B rows; `Team.shard` keeps rows ``rank::world`` of every tensor
  in it (a task whose batch has tensors of other leading sizes defines
  ``shard_batch(batch, rank, world)``). The data position is thus the same on every
  rank, and a task's carried state (a truncated-BPTT hidden state) belongs to its rows.
- **Gradients**: DDP averages them over the ranks. Rank r's loss is a mean over its
  ``count`` predictions; scaling it by world * count_r / sum(count) makes that average
  the gradient of the mean over the whole global batch, so N processes on B/N rows
  each take the step one process takes on B rows (up to float rounding), even when
  the last batch of an epoch does not split evenly. A rank with no row (a batch of
  fewer than N rows) runs one borrowed row with weight 0.
- **Randomness**: the global RNGs (dropout) are seeded per rank, rank 0 as one
  process would be, so shards get independent dropout masks; data order comes from the
  tasks' own seeded generators, the same on every rank.
- **Files**: only rank 0 writes (run directory, checkpoints, metrics, progress bar).
  A checkpoint holds rank 0's state as usual plus each other rank's RNGs and task
  state, gathered to rank 0, so every rank resumes exactly where it stopped; it can only
  be resumed by the same number of processes.
- **Agreement**: the stop decisions (Ctrl-C/SIGTERM, the clock of a time budget, a
  non-finite loss) are agreed by all ranks at each step, so no rank waits for a step the
  others never take. Evaluation runs on every rank over the whole validation data (the
  same weights give every rank the same figures), and a signal waits for its end.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch.nn.parallel import DistributedDataParallel

from rnnkit.errors import CheckpointError, ConfigError
from rnnkit.train.interrupt import InterruptRequest
from rnnkit.train.launch import threads_per_process
from rnnkit.train.resume import ResumePoint
from rnnkit.train.state import capture_rng, merge_task_state, split_task_state
from rnnkit.train.task import StepOutput
from rnnkit.validate import require_device

#: The key of the process count in a checkpoint's task state, and the prefix of each
#: other rank's packed state ("rank1/state", ...); a task's own keys never hold "/".
WORLD_KEY = "rank/world"
_RANK_STATE = "rank{}/state"
#: Seed offset between ranks for the global RNGs (a prime, so ranks never collide).
_RANK_SEED = 1_000_003


class Team:
    """The processes that train one run together: this one is ``rank`` of ``world``.

    The one-process team (`SOLO`) does nothing at all: every method returns its input,
    so the trainer runs the same code alone and in a team.
    """

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0) -> None:
        self.rank, self.world, self.local_rank = rank, world, local_rank

    @property
    def leader(self) -> bool:
        """True on rank 0, the one process that writes files and prints."""
        return self.rank == 0

    @property
    def many(self) -> bool:
        return self.world > 1

    # ---- set-up ----------------------------------------------------------------------

    def place(self, name: str) -> torch.device:
        """The device ``name`` (a TrainConfig.device) means on this rank: a bare ``cuda``
        is this rank's own GPU. ConfigError if it is not usable here."""
        device = require_device("TrainConfig", "device", name)
        if not self.many or device.type != "cuda":
            return device
        if device.index is None:
            device = torch.device("cuda", self.local_rank)
        if device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"training process {self.local_rank} of this machine has no GPU of its own "
                f"(cuda:{device.index}; there are {torch.cuda.device_count()}): start at most "
                "one process per GPU (torchrun --nproc-per-node, or --nproc)"
            )
        torch.cuda.set_device(device)
        return device

    def seed(self, seed: int) -> int:
        """The global-RNG seed of this rank (rank 0's is ``seed``)."""
        return (seed + _RANK_SEED * self.rank) % 2**63

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module a task should call: ``model`` wrapped in DDP, which averages the
        gradients of every backward pass over the ranks (``model`` itself alone)."""
        if not self.many:
            return model
        ids = [model_device(model)] if model_device(model).type == "cuda" else None
        return _Replica(model, device_ids=ids)

    # ---- every step ------------------------------------------------------------------

    def shard(self, task: object, batch: Any) -> tuple[Any, bool]:
        """This rank's part of the global ``batch``, and whether it is a borrowed row
        (this rank has none of its own; its loss then weighs nothing)."""
        if not self.many:
            return batch, False
        custom = getattr(task, "shard_batch", None)
        if custom is not None:
            return custom(batch, self.rank, self.world), False
        rows = _batch_rows(batch, type(task).__name__)
        if rows is None:
            return batch, False
        borrowed = self.rank >= rows
        part = slice(0, 1) if borrowed else slice(self.rank, None, self.world)
        return _take(batch, rows, part), borrowed

    def combine(
        self, out: StepOutput, borrowed: bool
    ) -> tuple[torch.Tensor, float, int, dict[str, float]]:
        """(loss to backpropagate, global mean loss, global count, global extras) of
        this rank's `Task.training_loss` output (TypeError if its loss is no scalar).

        Alone: the loss as it is. In a team: one all-reduce of every rank's weighted
        figures; the global loss is NaN on every rank if it is NaN on any, so all ranks
        skip the same steps.
        """
        loss = out.loss
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise TypeError("task.training_loss(...).loss must be a scalar tensor")
        value = float(loss.detach())
        if not self.many:
            return loss, value, int(out.count), dict(out.extras)
        keys = sorted(out.extras)
        weight = 0.0 if borrowed else float(out.count)
        local = [weight * value, weight, *(weight * float(out.extras[k]) for k in keys)]
        total = torch.tensor(local, dtype=torch.float64)
        dist.all_reduce(total)
        weight_sum = float(total[1])
        if weight_sum <= 0:
            raise ValueError("every rank's StepOutput.count is 0: the loss weighs nothing")
        mean = float(total[0]) / weight_sum
        extras = {k: float(v) / weight_sum for k, v in zip(keys, total[2:], strict=True)}
        scale = self.world * weight / weight_sum
        return loss * scale, mean, int(weight_sum), extras

    def agree(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is True on any (a stop request)."""
        if not self.many:
            return flag
        value = torch.tensor([1 if flag else 0], dtype=torch.int64)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def clock(self, seconds: float) -> float:
        """The elapsed time every rank uses: the slowest rank's (the time budget and
        its schedule must stop and decay at the same step on every rank)."""
        if not self.many:
            return seconds
        value = torch.tensor([seconds], dtype=torch.float64)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return float(value.item())

    def interruptible(self, request: InterruptRequest) -> contextlib.AbstractContextManager:
        """Where an evaluation may be stopped by a signal at once: alone, yes; in a team
        the signal waits for the step's end, which every rank reaches together."""
        return request.immediate() if not self.many else contextlib.nullcontext()

    # ---- checkpoints -----------------------------------------------------------------

    def gather_state(self, task_state: dict[str, Any]) -> dict[str, Any]:
        """(every rank calls it) The task state a checkpoint stores: this rank's, plus on
        rank 0 every other rank's task state and RNGs, packed under "rank<r>/state"."""
        if not self.many:
            return task_state
        packed = _pack(task_state)
        parts = self._all_gather_bytes(packed)
        merged = {**task_state, WORLD_KEY: self.world}
        for rank in range(1, self.world):
            merged[_RANK_STATE.format(rank)] = torch.frombuffer(
                bytearray(parts[rank]), dtype=torch.uint8
            )
        return merged

    def own_state(
        self, point: ResumePoint, device: torch.device
    ) -> tuple[dict[str, Any], tuple[dict[str, torch.Tensor], dict[str, Any]]]:
        """This rank's (task state, RNGs) out of a checkpoint's; task tensors on
        ``device``. CheckpointError if another number of processes wrote it."""
        task_state, rng = point.task_state, (point.rng_tensors, point.rng_values)
        saved = int(task_state.get(WORLD_KEY, 1))
        if saved != self.world:
            raise CheckpointError(
                f"the checkpoint was written by {saved} training process(es) and this run "
                f"has {self.world}; resume with {saved} "
                + ("(torchrun --nproc_per_node, or --nproc)" if saved > 1 else "(no torchrun)")
            )
        own = {k: v for k, v in task_state.items() if "/" not in k}
        if not self.leader:
            packed = task_state[_RANK_STATE.format(self.rank)]
            own, rng = _unpack(packed.cpu().numpy().tobytes(), device)
        return own, rng

    def broadcast_text(self, text: str) -> str:
        """Rank 0's ``text`` on every rank (e.g. a run directory named after the clock)."""
        if not self.many:
            return text
        return self._all_gather_bytes(text.encode("utf-8"))[0].decode("utf-8")

    def barrier(self) -> None:
        if self.many:
            dist.barrier()

    def _all_gather_bytes(self, data: bytes) -> list[bytes]:
        # Sizes first (the ranks' payloads differ in length), then padded payloads.
        size = torch.tensor([len(data)], dtype=torch.int64)
        sizes = [torch.zeros_like(size) for _ in range(self.world)]
        dist.all_gather(sizes, size)
        longest = max(int(s) for s in sizes)
        mine = torch.zeros(longest, dtype=torch.uint8)
        mine[: len(data)] = (
            torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else mine[:0]
        )
        parts = [torch.zeros_like(mine) for _ in range(self.world)]
        dist.all_gather(parts, mine)
        return [p[: int(s)].numpy().tobytes() for p, s in zip(parts, sizes, strict=True)]


SOLO = Team()


class _Replica(DistributedDataParallel):
    """DDP that still answers as the model does (``model.loss``, ``model.rnn``...), so a
    task calls its wrapped model exactly as it calls the bare one."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":
                raise
            return getattr(self.module, name)


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _batch_rows(batch: Any, task_name: str) -> int | None:
    """B, the leading size every tensor of ``batch`` shares (None without tensors)."""
    sizes = {t.shape[0] for t in _tensors(batch) if t.dim() > 0}
    if len(sizes) > 1:
        raise TypeError(
            f"{task_name}'s batch holds tensors of leading sizes {sorted(sizes)}, so it "
            "cannot be split by rows for several processes; give the task a method "
            "shard_batch(batch, rank, world) that returns this rank's part"
        )
    return sizes.pop() if sizes else None


def _tensors(batch: Any) -> Iterator[torch.Tensor]:
    if isinstance(batch, torch.Tensor):
        yield batch
    elif isinstance(batch, tuple | list):
        for item in batch:
            yield from _tensors(item)
    elif isinstance(batch, Mapping):
        for item in batch.values():
            yield from _tensors(item)


def _take(batch: Any, rows: int, part: slice) -> Any:
    """``batch`` with every tensor of ``rows`` rows cut to ``part``; the rest as it is."""
    if isinstance(batch, torch.Tensor):
        return batch[part] if batch.dim() > 0 else batch
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a NamedTuple
        return type(batch)(*(_take(item, rows, part) for item in batch))
    if isinstance(batch, tuple | list):
        return type(batch)(_take(item, rows, part) for item in batch)
    if isinstance(batch, Mapping):
        return {k: _take(v, rows, part) for k, v in batch.items()}
    return batch


def _pack(task_state: Mapping[str, Any]) -> bytes:
    """One rank's task state and global RNGs as safetensors bytes (JSON in a tensor)."""
    task_tensors, task_values = split_task_state(task_state)
    rng_tensors, rng_values = capture_rng()
    tensors = {k: v.detach().cpu().contiguous() for k, v in {**task_tensors, **rng_tensors}.items()}
    text = json.dumps({"task": task_values, "rng": rng_values}).encode("utf-8")
    tensors["json"] = torch.frombuffer(bytearray(text), dtype=torch.uint8)
    return save_tensors(tensors)


def _unpack(
    data: bytes, device: torch.device
) -> tuple[dict[str, Any], tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    tensors = load_tensors(data)
    values = json.loads(tensors.pop("json").numpy().tobytes().decode("utf-8"))
    task = merge_task_state(tensors, values["task"], device)
    rng = {k: v for k, v in tensors.items() if k.startswith("rng.")}
    return task, (rng, values["rng"])


# ---- joining and leaving ------------------------------------------------------------


def launched() -> bool:
    """True in a process that torchrun started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join() -> Team:
    """This process's team: `SOLO` unless torchrun started several processes, which
    this connects (once; later calls return the same team).

    Each process keeps its share of the CPU cores (torch.set_num_threads), unless
    OMP_NUM_THREADS says otherwise: two processes that each use every core run many
    times slower than one.
    """
    if not dist.is_initialized():
        if not launched():
            return SOLO
        missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise ConfigError(
                f"WORLD_SIZE is set but {', '.join(missing)} is not: start several training "
                "processes with torchrun (torchrun --nproc_per_node N -m rnnkit train ...)"
            )
        # CPU tensors (the step figures, checkpoint gathers) go over gloo, GPU tensors
        # (a GPU run's gradients) over NCCL.
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if "OMP_NUM_THREADS" not in os.environ:
            local = int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size()))
            torch.set_num_threads(threads_per_process(local))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return Team(dist.get_rank(), dist.get_world_size(), local_rank)


def leave() -> None:
    """Disconnect from the other processes (at the end of the command)."""
    if dist.is_initialized():
        dist.destroy_process_group()
