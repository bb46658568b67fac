"""Config sections of the reasoner pi_theta: model, LoRA, rewards, training stages 0-3, generation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from vta_core.config.base import PositiveInt, Section

DecodeEngine = Literal["fast", "hf"]
ENGINE_HELP = (
    "'fast': exact-length prefill groups, spliced KV cache, finished rows dropped (vta_core.reasoner.fast_decode; "
    "greedy tokens equal generate's); 'hf': transformers' generate"
)
GRAMMAR_HELP = (
    "constrain decoding to the answer format (tags and separators forced, exactly H numbers; the reasoning "
    "and the values stay the model's choice): vta_core.reasoner.answer_grammar; needs the fast engine"
)
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TinyModelConfig(Section):
    """The offline default reasoner: a BPE tokenizer trained on the prompt + narrative corpus (Qwen2's
    pre-tokenizer, so digits are one token each) and a randomly initialised small Qwen2 model."""

    vocab_size: Annotated[int, Field(ge=300)] = 1024
    hidden_size: PositiveInt = 64
    layers: PositiveInt = 2
    heads: PositiveInt = 4
    kv_heads: PositiveInt = 2
    intermediate_size: PositiveInt = 128
    max_positions: PositiveInt = 1024
    corpus_records: PositiveInt = Field(
        default=2000, description="training records whose prompts and analyst narratives train the tokenizer"
    )

    @model_validator(mode="after")
    def _heads(self) -> TinyModelConfig:
        if self.hidden_size % self.heads or self.heads % self.kv_heads:
            raise ValueError("tiny: hidden_size must divide by heads and heads by kv_heads")
        return self


class LoRAConfig(Section):
    rank: PositiveInt = 32
    alpha: PositiveInt = 32
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    targets: tuple[str, ...] = LORA_TARGETS

    @model_validator(mode="after")
    def _targets(self) -> LoRAConfig:
        if not self.targets:
            raise ValueError("lora.targets must name at least one module")
        return self


class RewardConfig(Section):
    """r = scale / (lambda * MSE + eps) on a parsed forecast (0 when it does not parse; official code:
    5 / (1 + 10 MSE)), plus `format_weight` x the format reward (1 parsable, partial credit for tags)."""

    mse_scale: Annotated[float, Field(gt=0)] = 5.0
    mse_lambda: Annotated[float, Field(gt=0)] = 10.0
    mse_eps: Annotated[float, Field(gt=0)] = 1.0
    format_weight: Annotated[float, Field(ge=0)] = 1.0


class SFTStageConfig(Section):
    """Supervised fine-tuning (stage 0 warm start, and the SFT of stage 2); loss on the completion only."""

    enabled: bool | None = Field(
        default=None,
        description="stage 0 only: None = on exactly when the model is the randomly initialised tiny-local model",
    )
    full_finetune: bool = Field(
        default=True,
        description="stage 0 only: train every weight (a random model "
        "has nothing for LoRA to adapt); stage 2 always continues the stage-1 adapter",
    )
    learning_rate: Annotated[float, Field(gt=0)] = 2e-4
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    epochs: Annotated[float, Field(gt=0)] = 2.0
    max_steps: PositiveInt | None = Field(default=None, description="caps the steps; None = epochs decide")
    batch_size: PositiveInt = 8
    grad_accum: PositiveInt = 1
    max_grad_norm: Annotated[float, Field(gt=0)] = 1.0
    max_records: PositiveInt | None = Field(default=None, description="seeded subsample of training records")
    max_length: PositiveInt = 1024
    narrative: Literal["quoted", "qualitative"] = Field(
        default="quoted",
        description="stage 0 only: the analyst narratives to learn: 'quoted' states every value it judges, "
        "'qualitative' the same trend, momentum, overbought / oversold and volatility judgements in words, "
        "quoting only the last close and the forecast (a tiny model cannot carry many copied numbers)",
    )
    think_sentences: tuple[int, ...] | None = Field(
        default=None,
        description="stage 0 only: keep these sentence indices (negative from the end) of the "
        "analyst's <think> block, so a tiny model learns short completions; None = the whole narrative",
    )
    copy_epochs: Annotated[float, Field(ge=0)] = Field(
        default=0.0,
        description="stage 0 only: epochs of a copy curriculum before the warm start (0 = none): the same "
        "records with the prompt cut to its last line, which states the last close, so a small model learns to "
        "restate it and answer from it on short sequences first (RESULTS.md, stage-0 recipes)",
    )
    copy_context: Literal["instruction", "indicators"] = Field(
        default="instruction",
        description="stage 0 only: what a copy record's prompt keeps: 'instruction' its last line (the completion "
        "is then the concluding sentence alone), 'indicators' also the indicator block before it (the completion "
        "is then whole, so the model learns its judgements of the indicators on short sequences too)",
    )
    copy_synthetic_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.0,
        description="stage 0 only: share of the copy records whose last close (in the prompt line and the "
        "completion) is replaced by a random value with 0-9 before the point, so every digit is seen copied",
    )
    level_shift_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.0,
        description="stage 0 only: share of the narrative records whose price levels (series, statistics, SMA, "
        "EMA, Bollinger bands, last close, reasoning, answer) all move by one random nonzero integer, so a small "
        "model also copies values beyond the training range (test windows drift to 12)",
    )
    level_shift_max: Annotated[int, Field(ge=1, le=50)] = Field(
        default=12, description="stage 0 only: the largest |k| of the level shift"
    )
    save_steps: PositiveInt = 200


class GRPOStageConfig(Section):
    """Time-GRPO (stages 1 and 3) through TRL's GRPOTrainer."""

    learning_rate: Annotated[float, Field(gt=0)] = 5e-6
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    max_steps: PositiveInt = 750
    num_generations: Annotated[int, Field(ge=2)] = 4
    batch_size: PositiveInt = Field(default=8, description="completions per device per step (prompts x G)")
    grad_accum: PositiveInt = 1
    beta: Annotated[float, Field(ge=0)] = Field(default=0.04, description="KL coefficient (not stated in SPEC)")
    max_completion_length: PositiveInt = 512
    temperature: Annotated[float, Field(gt=0)] = 1.0
    max_grad_norm: Annotated[float, Field(gt=0)] = 1.0
    max_records: PositiveInt | None = Field(default=None, description="seeded subsample of training prompts")
    save_steps: PositiveInt = 50
    logging_steps: PositiveInt = 1

    @model_validator(mode="after")
    def _divides(self) -> GRPOStageConfig:
        if (self.batch_size * self.grad_accum) % self.num_generations:
            raise ValueError(
                f"batch_size x grad_accum ({self.batch_size * self.grad_accum}) must be divisible "
                f"by num_generations ({self.num_generations})"
            )
        return self


class RejectionConfig(Section):
    """Stage 2: decode the stage-1 model on training windows, keep the lowest-MSE fraction of each
    (ticker, period) bucket, SFT on those completions."""

    keep_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    period: Literal["month", "quarter", "year"] = "quarter"
    max_windows: PositiveInt | None = Field(default=None, description="seeded subsample of training windows decoded")
    temperature: Annotated[float, Field(ge=0)] = Field(default=1.0, description="sampling temperature; 0 = greedy")
    batch_size: PositiveInt = 32
    max_new_tokens: PositiveInt = 512
    engine: DecodeEngine = Field(default="fast", description=ENGINE_HELP)
    answer_grammar: bool = Field(default=False, description=GRAMMAR_HELP)
    sft: SFTStageConfig = SFTStageConfig(learning_rate=2e-4, epochs=2.0, full_finetune=False)

    @model_validator(mode="after")
    def _grammar(self) -> RejectionConfig:
        _grammar_needs_fast(self.engine, self.answer_grammar, "rejection")
        return self


def _grammar_needs_fast(engine: str, grammar: bool, where: str) -> None:
    if grammar and engine != "fast":
        raise ValueError(f"{where}.answer_grammar needs {where}.engine: fast (transformers' generate has no grammar)")


class GenerationConfig(Section):
    """Batched decoding for evaluation and fusion; unparsable outputs are retried, then marked invalid."""

    batch_size: PositiveInt = 32
    max_new_tokens: PositiveInt = 512
    engine: DecodeEngine = Field(default="fast", description=ENGINE_HELP)
    answer_grammar: bool = Field(default=False, description=GRAMMAR_HELP)
    temperature: Annotated[float, Field(ge=0)] = Field(default=0.0, description="0 = greedy")
    retry_temperature: Annotated[float, Field(gt=0)] = 0.7
    retries: Annotated[int, Field(ge=0)] = 1
    retry_contradicting: bool = Field(
        default=True,
        description="also retry a parsed answer that does not bear out its own concluding sentence (another "
        "direction, or none); one still contradicting it after the last retry is withheld",
    )
    train_windows: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="final stage: seeded subsample of train windows decoded for fusion; None = all"
    )
    eval_windows: PositiveInt | None = Field(
        default=None,
        description="seeded subsample of val and of test windows decoded per stage (CPU time budget); "
        "None = every window. Fusion falls back to y_phi on the windows left out",
    )
    ablation: bool = Field(default=True, description="also decode val/test after stages 0-2 (the ablation rows)")
    ablation_windows: PositiveInt | None = Field(
        default=None,
        description="seeded subsample of val and of test windows decoded for the ablation rows (stages 0-2, base); "
        "None = as many as eval_windows. The final stage-3 decode covers eval_windows",
    )
    evaluate_base: bool = Field(default=False, description="also decode the untrained model ('reasoner (base)')")

    @model_validator(mode="after")
    def _grammar(self) -> GenerationConfig:
        _grammar_needs_fast(self.engine, self.answer_grammar, "generation")
        return self

    def keyed_for(self, final: bool) -> GenerationConfig:
        """The settings a generation stage is keyed on: decoding only (the flags that say which stages to
        decode stay out of the keys); the ablation rows decode `ablation_windows`, the final stage `eval_windows`."""
        keyed = self.model_copy(
            update={"train_windows": None, "ablation": True, "evaluate_base": False, "ablation_windows": None}
        )
        return keyed if final else keyed.model_copy(update={"eval_windows": self.ablation_windows or self.eval_windows})


class ReasonerConfig(Section):
    """LLM reasoner pi_theta (SPEC section 5): any HF causal LM (or the offline tiny model), LoRA via peft,
    trained with TRL in stages 0 (warm start), 1 (GRPO), 2 (rejection sampling + SFT), 3 (GRPO)."""

    enabled: bool = True
    model: str = Field(default="tiny-local", description="'tiny-local' or a Hugging Face id / local folder")
    trust_remote_code: bool = False
    dtype: Literal["float32", "bfloat16", "auto"] = "float32"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0
    gradient_checkpointing: bool | None = Field(
        default=None,
        description="recompute activations in the backward pass (TRL's default: memory for time); None: off for the "
        "tiny model, whose activations are small (a stage-0 step on CPU ran its forward twice), on for pretrained ones",
    )
    tiny: TinyModelConfig = TinyModelConfig()
    lora: LoRAConfig = LoRAConfig()
    reward: RewardConfig = RewardConfig()
    warm_start: SFTStageConfig = SFTStageConfig(learning_rate=1e-3, epochs=1.0, batch_size=16)
    stage1: GRPOStageConfig = GRPOStageConfig()
    rejection: RejectionConfig = RejectionConfig()
    stage3: GRPOStageConfig = GRPOStageConfig(max_steps=750, max_grad_norm=0.1)
    generation: GenerationConfig = GenerationConfig()

    @property
    def is_tiny(self) -> bool:
        return self.model == "tiny-local"

    @property
    def checkpoints_activations(self) -> bool:
        return not self.is_tiny if self.gradient_checkpointing is None else self.gradient_checkpointing

    @property
    def warm_start_on(self) -> bool:
        return self.is_tiny if self.warm_start.enabled is None else self.warm_start.enabled
