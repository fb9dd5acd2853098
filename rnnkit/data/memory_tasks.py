r"""Synthetic long-range memory tasks: the adding problem and the copy-memory task.

Both are seeded by a ``torch.Generator`` (or an int seed for a fresh CPU one) and
return CPU tensors, so one seed gives the same batches on every machine.

Adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015, sec. 4.1):
each step carries two numbers, a value :math:`v_t \sim U[0, 1)` and a marker
:math:`m_t \in \{0, 1\}` that is 1 at exactly two steps, one drawn uniformly from the
first half :math:`[0, \lfloor T/2 \rfloor)` and one from the second
:math:`[\lfloor T/2 \rfloor, T)`. The target is :math:`y = \sum_t m_t v_t`, the sum of the
two marked values. Always answering 1 (the mean of :math:`y`) scores
:math:`\mathrm{MSE} = \mathrm{Var}(v_1 + v_2) = 2/12 \approx 0.167`.

Copy memory (Arjovsky et al. 2016, sec. 4.1; after Hochreiter & Schmidhuber 1997): with
K symbols from an alphabet of A (K = 10, A = 8 in the paper), the input of length
T + 2K is the K symbols, T - 1 blanks, one delimiter, then K blanks; the target is
T + K blanks, then the K symbols. Ids: ``BLANK = 0``, symbols ``1..A``, the delimiter
``A + 1``; targets never hold the delimiter, so they have A + 1 classes. Guessing the
recalled symbols gets 1/A of them right.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.validate import check_int

BLANK = 0
#: Symbols recalled and alphabet size in the copy task of Arjovsky et al. 2016.
COPY_SYMBOLS = 10
COPY_ALPHABET = 8


class AddingBatch(NamedTuple):
    """``inputs`` (B, T, 2) float: value then marker; ``targets`` (B,) float."""

    inputs: Tensor
    targets: Tensor


class CopyBatch(NamedTuple):
    """``inputs`` and ``targets`` (B, T + 2K) long ids (see the module docstring)."""

    inputs: Tensor
    targets: Tensor


def as_generator(generator: torch.Generator | int) -> torch.Generator:
    """``generator`` itself (it advances as it draws), or a fresh CPU one seeded by an int."""
    if isinstance(generator, torch.Generator):
        return generator
    check_int("", "seed", generator, least=0)
    return torch.Generator().manual_seed(generator)


def adding_problem(batch_size: int, length: int, generator: torch.Generator | int) -> AddingBatch:
    """``batch_size`` adding-problem sequences of ``length`` T >= 2 steps."""
    check_int("", "batch_size", batch_size, least=1)
    check_int("", "length", length, least=2)
    g = as_generator(generator)
    B, T, half = batch_size, length, length // 2
    values = torch.rand(B, T, generator=g)  # (B, T)
    first = torch.randint(0, half, (B,), generator=g)  # (B,)
    second = torch.randint(half, T, (B,), generator=g)  # (B,)
    rows = torch.arange(B)
    markers = torch.zeros(B, T)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    inputs = torch.stack([values, markers], dim=-1)  # (B, T, 2)
    targets = values[rows, first] + values[rows, second]  # (B,)
    return AddingBatch(inputs, targets)


def copy_memory(
    batch_size: int,
    length: int,
    generator: torch.Generator | int,
    *,
    num_symbols: int = COPY_SYMBOLS,
    alphabet: int = COPY_ALPHABET,
) -> CopyBatch:
    """``batch_size`` copy-task sequences with a gap of ``length`` T >= 1 blanks (the
    delimiter in the last), ``num_symbols`` K to recall from ``alphabet`` A symbols."""
    check_int("", "batch_size", batch_size, least=1)
    check_int("", "length", length, least=1)
    check_int("", "num_symbols", num_symbols, least=1)
    check_int("", "alphabet", alphabet, least=2)
    g = as_generator(generator)
    B, T, K = batch_size, length, num_symbols
    symbols = torch.randint(1, alphabet + 1, (B, K), generator=g)  # (B, K)
    inputs = torch.full((B, T + 2 * K), BLANK, dtype=torch.long)  # (B, T + 2K)
    inputs[:, :K] = symbols
    inputs[:, K + T - 1] = delimiter(alphabet)
    targets = torch.full((B, T + 2 * K), BLANK, dtype=torch.long)  # (B, T + 2K)
    targets[:, T + K :] = symbols
    return CopyBatch(inputs, targets)


def delimiter(alphabet: int = COPY_ALPHABET) -> int:
    """The id of the copy task's "now recall" marker."""
    return alphabet + 1


def copy_vocab_size(alphabet: int = COPY_ALPHABET) -> int:
    """Input ids of the copy task: blank, the A symbols and the delimiter."""
    return alphabet + 2
