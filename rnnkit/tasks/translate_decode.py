"""Translating with a trained run: batched beam search (or greedy) or sampling, scores
with sacrebleu, and the attention weights of one sentence for a heatmap."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from rnnkit.data.shuffle import pad_batch
from rnnkit.decode import SamplingConfig, StepFn, beam_search, generate
from rnnkit.errors import ConfigError, DataError
from rnnkit.models.seq2seq import DecoderState, Seq2Seq
from rnnkit.nn.incremental import IncrementalRecurrent
from rnnkit.tasks.translate_data import EOS, GO, PAD, TranslateData, encode_source


def decoder_step(model: Seq2Seq, *, reference: bool = False) -> StepFn:
    """``model.step`` for beam search, its decoder layers stepped by
    `IncrementalRecurrent` (the same numbers as the layer's call, less work per step);
    ``reference=True``, or a model in training mode, gets `Seq2Seq.step` itself."""
    if reference or model.training:
        return model.step
    rnn_step = IncrementalRecurrent(model.decoder).step

    def step(tokens: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        return model.step(tokens, state, rnn_step)

    return step


@torch.no_grad()
def translate_texts(
    run,
    texts: list[str],
    beam: int | None = None,
    n_best: int = 1,
    chunk: int = 64,
    *,
    reference: bool = False,
) -> list[list[dict[str, Any]]]:
    """The ``n_best`` translations of each text, best first: {"translation", "score",
    "log_prob", "finished"}. Unknown source words are read as ``<unk>``.
    ``reference=True`` decodes through the decoder layer's own call (see `decoder_step`)."""
    config: TranslateData = run.spec.data
    width = config.beam if beam is None else beam
    if n_best > width:
        raise ConfigError(
            f"--n-best {n_best} is more than the beam keeps (--beam {width})",
            field="n_best",
            problem=f"must be at most --beam ({width})",
        )
    sources = source_ids(run, texts)
    target = run.artifacts["target_vocab"]
    model = run.model.eval()
    device = next(model.parameters()).device
    step = decoder_step(model, reference=reference)
    order = sorted(range(len(texts)), key=lambda i: len(sources[i]))
    out: list[list[dict[str, Any]] | None] = [None] * len(texts)
    for start in range(0, len(order), chunk):
        rows = order[start : start + chunk]
        source, lengths = pad_batch([torch.tensor(sources[i]) for i in rows], PAD)
        state = model.encode(source.to(device), lengths.to(device))
        found = beam_search(
            step, state, batch_size=len(rows), go_id=GO, eos_id=EOS, width=width,
            max_len=config.output_limit, length_penalty=config.length_penalty,
            n_best=n_best, device=device,
        )  # fmt: skip
        for i, hypotheses in zip(rows, found, strict=True):
            out[i] = [
                {
                    "translation": target.decode(h.tokens),
                    "score": h.score,
                    "log_prob": h.log_prob,
                    "finished": h.finished,
                }
                for h in hypotheses
            ]
    return out  # type: ignore[return-value]


def source_ids(run, texts: list[str]) -> list[list[int]]:
    """Each text's source ids (unknown words as ``<unk>``), or a DataError naming the
    first text that is empty or longer than the model was trained on."""
    config: TranslateData = run.spec.data
    sources = encode_source(run.artifacts["source_vocab"], texts, config)
    for i, ids in enumerate(sources):
        if not ids:
            raise DataError(f"input {i + 1} ({texts[i][:40]!r}) has no words to translate")
        if len(ids) > config.max_len:
            raise DataError(
                f"input {i + 1} ({texts[i][:40]!r}) has {len(ids)} tokens; the model was "
                f"trained on sentences of at most {config.max_len} (--max-len): split it"
            )
    return sources


@torch.no_grad()
def sample_translations(
    run, texts: list[str], sampling: SamplingConfig, chunk: int = 64
) -> list[list[dict[str, Any]]]:
    """``sampling.num_samples`` translations of each text drawn from the model,
    :math:`y_t \\sim p(\\cdot \\mid y_{<t}, x)` after temperature, top-k and top-p
    (`rnnkit.decode.generate`, the language models' sampler): {"translation",
    "finished"} (False when it reached the output limit without ``<eos>``).

    Each sample starts from ``<go>`` and ends at ``<eos>``; ``<pad>`` and ``<go>`` are
    never drawn. A ``seed`` makes the result repeatable for the same texts in the same
    order (the sources are decoded as batches of ``chunk`` texts x samples rows).
    """
    config: TranslateData = run.spec.data
    sources = source_ids(run, texts)
    target = run.artifacts["target_vocab"]
    model = run.model.eval()
    device = next(model.parameters()).device
    step = decoder_step(model)
    n = sampling.num_samples
    out: list[list[dict[str, Any]]] = []
    for start in range(0, len(texts), chunk):
        rows = [torch.tensor(ids) for ids in sources[start : start + chunk] for _ in range(n)]
        source, lengths = pad_batch(rows, PAD)  # each text n times in a row
        first = model.encode(source.to(device), lengths.to(device))
        settings = replace(
            sampling,
            num_samples=len(rows),
            max_new_tokens=config.output_limit + 1,  # the words and <eos>
            stop_ids=(EOS,),
            banned_ids=tuple(sorted({*sampling.banned_ids, PAD, GO})),
            seed=None if sampling.seed is None else (sampling.seed + start) % 2**64,
        )

        def prime(go: torch.Tensor, first=first) -> tuple[torch.Tensor, DecoderState]:
            return step(go[:, -1], first)  # the decoder's first step, from <go>

        drawn = generate(step, [GO], settings, prime=prime, device=device)
        for i in range(0, len(drawn), n):
            out.append(
                [
                    {"translation": target.decode(ids[:-1] if ids[-1:] == [EOS] else ids),
                     "finished": ids[-1:] == [EOS]}
                    for ids in drawn[i : i + n]
                ]
            )  # fmt: skip
    return out


def corpus_scores(hypotheses: list[str], references: list[str], config: TranslateData) -> dict:
    """BLEU and chrF (sacrebleu, one reference each) and the exact-match share. With
    ``lowercase`` the references are lower-cased too, since the model writes lower case."""
    try:
        import sacrebleu
    except ImportError:
        raise ConfigError(
            "scoring translations needs sacrebleu: pip install 'rnnkit[translate]'"
        ) from None
    refs = [r.lower() for r in references] if config.lowercase else list(references)
    bleu = sacrebleu.corpus_bleu(hypotheses, [refs])
    chrf = sacrebleu.corpus_chrf(hypotheses, [refs])
    # Exact match after BLEU's own tokenisation, so "salut!" equals "salut !".
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    tokenize = Tokenizer13a()
    same = sum(tokenize(h) == tokenize(r) for h, r in zip(hypotheses, refs, strict=True))

    return {"bleu": bleu.score, "chrf": chrf.score, "exact_match": same / max(len(refs), 1)}


@torch.no_grad()
def attention_map(run, text: str) -> tuple[list[str], list[str], torch.Tensor]:
    """The best translation of ``text`` and the attention weights (T, S) of each of
    its tokens (and ``<eos>``) over the source tokens, as the source was fed."""
    model = run.model.eval()
    if not model.attends:
        raise ConfigError("this model has no attention (--attention none); nothing to show")
    (best,) = translate_texts(run, [text])[0][:1]
    config: TranslateData = run.spec.data
    source_vocab, target_vocab = run.artifacts["source_vocab"], run.artifacts["target_vocab"]
    source = encode_source(source_vocab, [text], config)[0]
    target = target_vocab.encode(best["translation"]) + [EOS]
    device = next(model.parameters()).device
    state = model.encode(torch.tensor([source], device=device))
    tokens = torch.tensor([GO], device=device)
    rows = []
    for token in target:
        _, state, weights = model.step_with_attention(tokens, state)
        rows.append(weights[0].cpu())
        tokens = torch.tensor([token], device=device)
    vocabulary = source_vocab.vocabulary
    source_tokens = [vocabulary[i] for i in source]
    target_tokens = [target_vocab.vocabulary[i] for i in target]
    return source_tokens, target_tokens, torch.stack(rows)
