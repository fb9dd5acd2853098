"""Sparse embedding gradients and lazy Adam (`TrainConfig.sparse_embeddings`).

References: dense torch Adam/AdamW (equal whenever every row is in every batch),
torch.optim.SparseAdam (the same lazy rule, without weight decay), and dense clipping.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnkit.data.labelled import LabelledTexts
from rnnkit.errors import ConfigError
from rnnkit.runs import load_run, resume_run, train_run
from rnnkit.train import TrainConfig, build_optimizer
from rnnkit.train.optim import LazyAdam, LazyAdamW, clip_gradients, make_embeddings_sparse


def twin_models(sparse: bool) -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Embedding(12, 5, sparse=sparse), torch.nn.Linear(5, 3))


def train(model, optimizer, batches) -> None:
    for ids in batches:
        optimizer.zero_grad(set_to_none=True)
        model(ids).tanh().pow(2).mean().backward()
        optimizer.step()


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_rows_in_every_batch_follow_dense_adam(name: str) -> None:
    """Each batch holds every row (some twice), so lazy Adam must be dense Adam."""
    gen = torch.Generator().manual_seed(1)
    batches = [torch.cat([torch.randperm(12, generator=gen), torch.randint(0, 12, (6,), generator=gen)]).view(3, 6) for _ in range(25)]  # fmt: skip
    config = TrainConfig(optimizer=name, lr=0.02, weight_decay=0.1, betas=(0.8, 0.95), max_steps=1)
    sparse, dense = twin_models(True), twin_models(False)
    sparse_opt = build_optimizer(sparse.parameters(), config)
    assert type(sparse_opt) is (LazyAdam if name == "adam" else LazyAdamW)
    kind = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    dense_opt = kind(
        dense.parameters(), lr=0.02, weight_decay=0.1, betas=(0.8, 0.95), foreach=False
    )
    start = dense[0].weight.detach().clone()
    train(sparse, sparse_opt, batches)
    train(dense, dense_opt, batches)
    assert sparse[0].weight.grad.is_sparse
    for mine, theirs in zip(sparse.parameters(), dense.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
    assert (dense[0].weight - start).abs().min() > 1e-3  # every row moved


def test_lazy_adam_equals_torchs_sparse_adam_and_leaves_unused_rows_alone() -> None:
    gen = torch.Generator().manual_seed(2)
    first = torch.tensor([[11, 0, 3]])
    later = [torch.randint(0, 8, (2, 4), generator=gen) for _ in range(20)]  # rows 8-11 unused
    ours_model, ref_model = twin_models(True), twin_models(True)
    ours = build_optimizer(ours_model.parameters(), TrainConfig(lr=0.05, max_steps=1))
    # SparseAdam adds eps before the bias correction, Adam after: with a negligible eps
    # the two rules are the same.
    ours.param_groups[0]["eps"] = 1e-14
    ref_emb = torch.optim.SparseAdam([ref_model[0].weight], lr=0.05, eps=1e-14)
    ref_lin = torch.optim.Adam(ref_model[1].parameters(), lr=0.05, eps=1e-14, foreach=False)
    train(ours_model, ours, [first])
    after_first = ours_model[0].weight.detach().clone()
    train(ours_model, ours, later)
    for ids in [first, *later]:
        ref_emb.zero_grad(set_to_none=True)
        ref_lin.zero_grad(set_to_none=True)
        ref_model(ids).tanh().pow(2).mean().backward()
        ref_emb.step()
        ref_lin.step()
    for mine, theirs in zip(ours_model.parameters(), ref_model.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
    weights = ours_model[0].weight.detach()
    assert torch.equal(weights[8:], after_first[8:])  # row 11 moved once, then never
    assert not torch.equal(weights[:8], after_first[:8])


@pytest.mark.parametrize("clip", [{"clip_norm": 0.05}, {"clip_norm": None, "clip_value": 0.01}])
def test_clipping_a_sparse_gradient_equals_clipping_its_dense_twin(clip: dict) -> None:
    ids = torch.tensor([[1, 1, 4, 7], [4, 1, 9, 9]])  # repeated rows: an uncoalesced gradient
    grads = {}
    for sparse in (True, False):
        model = twin_models(sparse)
        model(ids).pow(2).sum().backward()
        norm = clip_gradients(model.parameters(), TrainConfig(max_steps=1, **clip))
        grads[sparse] = (norm, [p.grad.to_dense() for p in model.parameters()])
    assert grads[True][0] == pytest.approx(grads[False][0], rel=1e-6)
    assert grads[False][0] > 0.5  # big enough for either clip to bite
    for mine, theirs in zip(grads[True][1], grads[False][1], strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=1e-8)


def test_a_tied_embedding_stays_dense() -> None:
    embedding, output = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10, bias=False)
    output.weight = embedding.weight
    free = torch.nn.Embedding(6, 4)
    model = torch.nn.ModuleDict({"tied": embedding, "out": output, "free": free})
    assert make_embeddings_sparse(model) == 1
    assert free.sparse and not embedding.sparse


def test_sparse_embeddings_need_adam() -> None:
    with pytest.raises(ConfigError, match="adam or adamw") as err:
        TrainConfig(optimizer="sgd", sparse_embeddings=True, max_steps=1)
    assert err.value.field == "sparse_embeddings"


def test_a_classifier_trains_with_sparse_embeddings_and_resumes_exactly(tmp_path: Path) -> None:
    rows = [("a great film", "pos"), ("fine and great", "pos")] * 8
    rows += [("a dull film", "neg"), ("bad and dull", "neg")] * 8
    raw = LabelledTexts([text for text, _ in rows], [label for _, label in rows])
    train = {"sparse_embeddings": True, "lr": 0.01, "schedule": "constant", "eval_every": 5}
    train |= {"progress": False}  # constant: a budget of 10 then 20 steps decays as 20 does
    model, data = {"hidden_size": 8, "ensemble": 2}, {"val_fraction": 0.25, "batch_size": 4}

    def run(name: str, steps: int, resume: bool = False):
        settings = {"raw": raw, "data": data, "model": model}
        if resume:
            return resume_run(tmp_path / name, raw=raw, train={"max_steps": steps})
        return train_run(
            "classify", tmp_path / name, train=train | {"max_steps": steps}, **settings
        )

    whole = run("whole", 20)
    run("part", 10)
    resumed = run("part", 20, resume=True)
    assert resumed.result.steps == whole.result.steps == 20
    a = load_run(tmp_path / "whole").model.state_dict()
    b = load_run(tmp_path / "part").model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    figures = load_run(tmp_path / "whole").evaluate(raw=raw)
    assert figures["accuracy"] == 1.0
