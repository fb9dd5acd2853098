"""The translation task: sentence pairs in, an encoder-decoder with attention out.

Artifacts: ``source_vocab.json`` and ``target_vocab.json`` (the same vocabulary twice
with ``--shared-vocab``), fitted on the training part only. After training, the
held-out test pairs (no source sentence shared with training) are translated with
beam search and scored: BLEU and chrF (sacrebleu), exact matches, and the
teacher-forced loss per token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rnnkit.data.parallel import Pairs, load_pairs, split_pairs
from rnnkit.data.text_encoder import TextEncoder
from rnnkit.errors import ConfigError, DataError
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.nn.registry import cell_names
from rnnkit.runs.recipes import BudgetTiers, Recipe
from rnnkit.runs.registry import TEXT_FILE_FLAGS, Flag, Prepared, TaskPlugin, register_task
from rnnkit.tasks.translate_data import (
    TranslateData,
    TranslateTask,
    encode_pairs,
    fit_encoders,
    teacher_forced_loss,
)
from rnnkit.tasks.translate_decode import corpus_scores, translate_texts

TRANSLATE_TIERS = BudgetTiers(
    {
        "fp32": (
            (
                float("inf"),
                Recipe(
                    model={
                        "cell": "lstm",
                        "hidden_size": 256,
                        "embedding_size": 128,
                        "input_feeding": False,
                    },
                    train={"lr": 2e-3},
                ),
            ),
        )
    }
)


@register_task
class TranslateTaskPlugin(TaskPlugin):
    name = "translate"
    help = "translation: an encoder-decoder with attention on sentence pairs"
    data_help = "a TSV of sentence pairs, source<TAB>target per line (extra columns ignored)"
    data_config = TranslateData
    model_config = Seq2SeqConfig
    derived_model_fields = ("source_vocab_size", "target_vocab_size", "pad_id")
    unit = "tokens"
    tiers = TRANSLATE_TIERS
    default_minutes = 10.0
    train_defaults = {"optimizer": "adamw", "eval_every": 200, "checkpoint_every": 200}
    flags = {
        "tokens": Flag(
            help="word (default), char, bpe or wordpiece",
            choices=("word", "char", "bpe", "wordpiece"),
        ),
        "lowercase": Flag(help="lower-case both sides (default on)"),
        "shared_vocab": Flag(help="one vocabulary for both languages"),
        **TEXT_FILE_FLAGS,
        "max_len": Flag(help="leave out pairs with more tokens on either side (default 20)"),
        "reverse_source": Flag(help="feed the source backwards (the TensorFlow tutorial's trick)"),
        "test_fraction": Flag(help="pairs held out for the test after training (default 0.1)"),
        "teacher_forcing": Flag(help="share of decoder steps fed the reference (default 1)"),
        "beam": Flag(help="beam width for evaluation and translate (default 5)"),
        "length_penalty": Flag(help="GNMT length penalty alpha for beam search (default 0.6)"),
        "max_output_len": Flag(help="longest translation in tokens (default 2 x --max-len)"),
        "cell": Flag(help="default lstm", choices=cell_names()),
        "hidden_size": Flag("hidden", "units per layer (default 256)"),
        "num_layers": Flag("layers", "layers in encoder and decoder (default 1)"),
        "embedding_size": Flag("embedding", "embedding width (default 128)"),
        "bidirectional": Flag(help="the encoder reads both ways (default on)"),
        "recurrent_dropout": Flag(help="encoder's variational recurrent dropout; default 0"),
        "zoneout": Flag(help="zoneout probability of the encoder's state; default 0"),
        "attention": Flag(
            help="general (default), dot, additive or none",
            choices=("none", "dot", "general", "additive"),
        ),
        "input_feeding": Flag(
            help="feed the attentional vector back into the decoder (Luong's input feeding; "
            "default off: without it training runs the decoder over the whole target at once, "
            "about 1.7x faster)"
        ),
        "shared_embeddings": Flag(help="one embedding for both sides (needs --shared-vocab)"),
    }

    # ---- data ----------------------------------------------------------------------------
    def read(self, source: str, config: TranslateData) -> Pairs:
        return load_pairs(source, encoding=config.encoding, encoding_errors=config.encoding_errors)

    def digest(self, raw: Pairs) -> str:
        return raw.digest()

    def prepare(
        self, raw: Pairs, config: TranslateData, artifacts: Mapping[str, Any] | None
    ) -> Prepared:
        rest, test = split_pairs(raw, config.test_fraction, config.split_seed)
        val_share = config.val_fraction / (1 - config.test_fraction)
        train, val = split_pairs(rest, val_share, config.split_seed + 1)
        if len(train) == 0:
            raise DataError(f"the data has {len(raw)} pair(s): too few to train on")
        if artifacts is None:
            encoders = fit_encoders(train, config)
            artifacts = {"source_vocab": encoders["source"], "target_vocab": encoders["target"]}
        encoders = {"source": artifacts["source_vocab"], "target": artifacts["target_vocab"]}
        data = (
            encode_pairs(train, encoders, config),
            encode_pairs(val, encoders, config),
            test,
        )
        return Prepared(data, dict(artifacts))

    def artifacts_to_json(self, artifacts: Mapping[str, Any]) -> dict[str, Any]:
        return {name: encoder.to_json() for name, encoder in artifacts.items()}

    def artifacts_from_json(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {name: TextEncoder.from_json(value) for name, value in data.items()}

    # ---- model and training ------------------------------------------------------------
    def derive_model_fields(self, config: TranslateData, prepared: Prepared) -> dict[str, Any]:
        return {
            "source_vocab_size": prepared.artifacts["source_vocab"].vocab_size,
            "target_vocab_size": prepared.artifacts["target_vocab"].vocab_size,
            "pad_id": 0,
        }

    def build_model(self, config: Seq2SeqConfig) -> Seq2Seq:
        return Seq2Seq(config)

    def trainer_task(self, spec, prepared: Prepared, model: Seq2Seq) -> TranslateTask:
        if spec.model.shared_embeddings and not spec.data.shared_vocab:
            raise ConfigError(
                "--shared-embeddings needs one vocabulary for both languages: add --shared-vocab",
                field="shared_embeddings",
                problem="needs --shared-vocab (one vocabulary for both languages)",
            )
        train, val, _ = prepared.data
        return TranslateTask(model, train, val, spec.data, spec.train.seed)

    def held_out_test(self, spec, prepared: Prepared) -> Pairs | None:
        test = prepared.data[2]
        return test if len(test) else None

    # ---- a trained run ---------------------------------------------------------------------
    def evaluate(self, run, raw: Pairs) -> dict[str, Any]:
        """BLEU, chrF, exact matches and the loss per token on the pairs within the
        run's --max-len on both sides (as in training); ``left_out`` counts the rest."""
        config: TranslateData = run.spec.data
        encoders = {
            "source": run.artifacts["source_vocab"],
            "target": run.artifacts["target_vocab"],
        }
        encoded = encode_pairs(raw, encoders, config)
        if not encoded.kept:
            raise DataError(
                f"none of the {len(raw)} pairs is within the run's --max-len {config.max_len}"
            )
        kept = raw.subset(encoded.kept)
        outputs = translate_texts(run, list(kept.sources))
        figures = corpus_scores([o[0]["translation"] for o in outputs], list(kept.targets), config)
        figures["loss"] = teacher_forced_loss(run.model, encoded)
        figures["pairs"] = len(kept)
        figures["left_out"] = len(raw) - len(kept)
        return figures

    def predict(self, run, inputs: Sequence[str]) -> list[dict[str, Any]]:
        return [
            {"input": text, **hypotheses[0], "n_best": hypotheses}
            for text, hypotheses in zip(inputs, translate_texts(run, list(inputs)), strict=True)
        ]

    def describe_figures(self, figures: Mapping[str, Any]) -> str:
        return (
            f"BLEU {figures['bleu']:.2f}  chrF {figures['chrf']:.2f}  exact match "
            f"{100 * figures['exact_match']:.1f}%  loss {figures['loss']:.4f}  "
            f"pairs {figures['pairs']}"
        )

    def describe_prediction(self, record: Mapping[str, Any]) -> str:
        return record["translation"]

    def next_commands(self, run_dir: str, spec) -> list[list[str]]:
        return [
            ["rnnkit", "translate", run_dir, "SENTENCE"],
            ["rnnkit", "evaluate", run_dir, "PAIRS.tsv"],
        ]
