"""Reasoner building blocks with a tiny model: rewards, rejection sampling, tokenizer round trip,
one GRPO step, checkpoint resume, and the paper preset's TRL configs (no weights loaded)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from vta_core.config import load_config
from vta_core.config.sections import GRPOStageConfig, LoRAConfig, ReasonerConfig, SFTStageConfig, TinyModelConfig
from vta_core.reasoner import corpus, loading, rejection, rewards, tiny_model, training, trl_configs

torch.set_num_threads(1)
TARGET = [0.0, 0.1, 0.2]
GOOD = "<think>trend up</think>\n<answer>[0.0, 0.1, 0.2]</answer>"
OFF = "<think>trend up</think><answer>[1.0, 1.1, 1.2]</answer>"  # every value off by 1: MSE = 1
PROMPT = [
    {"role": "system", "content": "You are an analyst. Answer in <think> </think> <answer> [v1, v2, v3] </answer>."},
    {"role": "user", "content": "Prices: [-0.1234, 0.5678, 1.002]. RSI (5): 63.2. Predict 3 values."},
]


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (GOOD, 5.0 / (10.0 * 0.0 + 1.0)),
        (OFF, 5.0 / (10.0 * 1.0 + 1.0)),
        ("<think>x</think><answer>[0.0, 0.1]</answer>", 0.0),  # wrong count: unparsable
        ("[0.0, 0.1, 0.2]", 0.0),  # no tags
        ([{"role": "assistant", "content": GOOD}], 5.0),  # conversational completion
    ],
)
def test_inverse_mse_reward(completion, expected):
    reward = rewards.inverse_mse_reward(scale=5.0, lam=10.0, eps=1.0)
    assert reward([completion], target=[TARGET]) == [pytest.approx(expected)]


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (GOOD, 1.0),
        ("<think>x</think><answer>[0.0, 0.1]</answer>", 0.5),  # all four tags once, answer invalid: half credit
        ("<think>x</think> nothing else", 0.25),  # two of four tags
        ("no tags at all", 0.0),
        ("<think>a</think><think>b</think>", 0.0),  # repeated tags earn nothing
    ],
)
def test_format_reward(completion, expected):
    assert rewards.format_reward(1.0)([completion], target=[TARGET]) == [pytest.approx(expected)]


def test_reward_functions_follow_config():
    functions = rewards.reward_functions(ReasonerConfig().reward)
    assert [f.__name__ for f in functions] == ["inverse_mse", "format"]
    assert [f([OFF], target=[TARGET])[0] for f in functions] == [pytest.approx(5 / 11), 1.0]


def test_rejection_keeps_lowest_mse_per_ticker_and_quarter():
    frame = pd.DataFrame(
        {
            "ticker": ["A"] * 5 + ["B"] * 3,
            "window_end_date": [
                "2015-01-05",
                "2015-01-06",
                "2015-02-02",
                "2015-04-01",
                "2015-04-02",
                "2015-01-05",
                "2015-01-06",
                "2015-01-07",
            ],
            "mse": [0.5, 0.2, 0.3, np.nan, 0.9, np.nan, np.nan, np.nan],
        }
    )
    kept = rejection.select_best(frame, keep_fraction=0.1, period="quarter")
    # A/2015Q1 -> the 0.2 row; A/2015Q2 -> 0.9 (the NaN is never kept); B has nothing parsable.
    assert kept.index.tolist() == [1, 4]
    half = rejection.select_best(frame, keep_fraction=0.5, period="quarter")
    assert half.index.tolist() == [1, 2, 4]  # ceil(0.5 x 3) = 2 in A/Q1; ceil(0.5 x 2) = 1 in A/Q2
    yearly = rejection.select_best(frame, keep_fraction=0.2, period="year")
    assert yearly.index.tolist() == [1]  # one bucket of 5 for A: ceil(1.0) = 1


def test_compact_narrative_keeps_chosen_sentences():
    text = "<think>First 0.25 one. Second two. Weighing these, rise.</think>\n<answer>[1, 2]</answer>"
    assert corpus.compact_narrative(text, (-1,)) == "<think>Weighing these, rise.</think>\n<answer>[1, 2]</answer>"
    assert (
        corpus.compact_narrative(text, (0, -1))
        == "<think>First 0.25 one. Weighing these, rise.</think>\n<answer>[1, 2]</answer>"
    )
    assert corpus.compact_narrative(text, None) == text


def test_the_warm_start_reads_the_chosen_narrative_style_and_the_tokenizer_sees_both():
    record = {"prompt": [{"role": "user", "content": "p"}], "completion": "quoted 0.5", "qualitative": "in words"}
    assert corpus.warm_start_completion(record, "quoted") == "quoted 0.5"
    assert corpus.warm_start_completion(record, "qualitative") == "in words"
    assert list(corpus.tokenizer_corpus([record])) == ["p", "quoted 0.5", "in words"]
    old = {"prompt": [], "completion": "x", "ticker": "XOM", "window_end_date": "2016-03-04"}
    with pytest.raises(KeyError, match="XOM 2016-03-04 has no 'qualitative' narrative"):
        corpus.warm_start_completion(old, "qualitative")


TINY = TinyModelConfig(
    vocab_size=400,
    hidden_size=16,
    layers=1,
    heads=2,
    kv_heads=1,
    intermediate_size=32,
    max_positions=512,
    corpus_records=10,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    texts = [m["content"] for m in PROMPT] + [GOOD, OFF] * 5
    return tiny_model.build_tiny_model(texts, TINY, tmp_path_factory.mktemp("tiny") / "model", seed=0)


def test_tokenizer_and_model_round_trip(tiny):
    text = PROMPT[1]["content"] + " " + GOOD
    fresh = tiny_model.train_tokenizer([m["content"] for m in PROMPT] + [GOOD, OFF] * 5, TINY.vocab_size)
    reloaded = AutoTokenizer.from_pretrained(tiny)
    assert reloaded(text)["input_ids"] == fresh(text)["input_ids"]
    assert reloaded.decode(reloaded(text)["input_ids"]) == text
    assert "-0.1234" in reloaded.convert_tokens_to_string(reloaded.tokenize("-0.1234"))
    assert [reloaded.convert_ids_to_tokens(i) for i in reloaded("1234")["input_ids"]] == ["1", "2", "3", "4"]
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert len(reloaded(tag)["input_ids"]) == 1
    chat = reloaded.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    assert chat.endswith("<|im_start|>assistant\n")
    model = AutoModelForCausalLM.from_pretrained(tiny)
    again = AutoModelForCausalLM.from_pretrained(tiny)
    ids = torch.tensor([reloaded(text)["input_ids"]])
    assert torch.equal(model(ids).logits, again(ids).logits)


def _reasoner(tmp) -> ReasonerConfig:
    return ReasonerConfig(device="cpu", tiny=TINY, lora=LoRAConfig(rank=4, alpha=8, dropout=0.0))


def test_one_grpo_step_changes_lora_weights(tiny, tmp_path):
    cfg = _reasoner(tmp_path)
    model, tokenizer = loading.load_checkpoint(
        loading.Checkpoint(str(tiny), None), cfg, trainable=True, new_lora=cfg.lora
    )
    before = loading.lora_state(model)
    assert before and all("lora_" in name for name in before)
    dataset = Dataset.from_dict(corpus.grpo_rows([{"prompt": PROMPT, "target": TARGET}] * 4))

    def length_reward(completions, **_):  # a random model never parses; any varying reward gives advantages
        return [float(len(rewards.completion_text(c))) for c in completions]

    stage = GRPOStageConfig(
        max_steps=1,
        num_generations=2,
        batch_size=4,
        max_completion_length=8,
        beta=0.04,
        learning_rate=1e-2,
        warmup_ratio=0.0,
        save_steps=10,
    )  # no warm-up: lr > 0 at step 1
    log = training.ProgressLog("stage 1", None, 5.0, 10.0, 1.0)
    trained = training.run_grpo(
        model,
        tokenizer,
        dataset,
        [length_reward, *rewards.reward_functions(cfg.reward)],
        trl_configs.grpo_config(stage, cfg, tmp_path / "work"),
        log,
    )
    after = loading.lora_state(trained)
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert changed, "one GRPO step must change the LoRA weights"
    assert log.rows and log.rows[-1]["step"] == 1 and "kl" in log.rows[-1]
    base_weights = [p for n, p in trained.named_parameters() if "lora_" not in n]
    assert not any(p.requires_grad for p in base_weights), "only the adapter trains"


def test_killed_sft_resumes_from_its_checkpoint(tiny, tmp_path):
    cfg = _reasoner(tmp_path)
    rows = corpus.sft_rows([{"prompt": PROMPT}] * 8, [GOOD] * 8)
    work = tmp_path / "work"

    def train(max_steps: int) -> training.ProgressLog:
        model, tokenizer = loading.load_checkpoint(loading.Checkpoint(str(tiny), None), cfg, trainable=True)
        stage = SFTStageConfig(max_steps=max_steps, batch_size=4, save_steps=2, learning_rate=1e-3)
        log = training.ProgressLog("stage 0", None)
        training.run_sft(model, tokenizer, Dataset.from_dict(rows), trl_configs.sft_config(stage, cfg, work), log)
        return log

    first = train(2)  # stands in for a run killed after its step-2 checkpoint
    assert (work / "checkpoint-2").is_dir() and first.rows[-1]["step"] == 2
    resumed = train(3)
    assert [r["step"] for r in resumed.rows] == [3], "the rerun starts after the saved step, not from zero"


def test_paper_preset_builds_every_trl_config_without_weights(tmp_path):
    cfg = load_config("paper", environ={}).reasoner
    assert cfg.model == "Qwen/Qwen2.5-7B-Instruct" and not cfg.warm_start_on and not cfg.trust_remote_code
    lora = loading.lora_config(cfg.lora)
    assert (lora.r, lora.lora_alpha) == (32, 32)
    assert set(lora.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    stage1 = trl_configs.grpo_config(cfg.stage1, cfg, tmp_path / "s1")
    assert (stage1.learning_rate, stage1.lr_scheduler_type.value, stage1.warmup_steps) == (5e-6, "cosine", 0.1)
    assert stage1.num_generations == 4 and stage1.beta == cfg.stage1.beta
    assert stage1.generation_batch_size % stage1.num_generations == 0
    stage3 = trl_configs.grpo_config(cfg.stage3, cfg, tmp_path / "s3")
    assert (stage3.max_steps, stage3.max_grad_norm) == (750, 0.1)
    stage2 = trl_configs.sft_config(cfg.rejection.sft, cfg, tmp_path / "s2")
    assert (stage2.learning_rate, stage2.num_train_epochs, stage2.completion_only_loss) == (2e-4, 2.0, True)
    assert cfg.rejection.keep_fraction == 0.1
    warm = trl_configs.sft_config(cfg.warm_start, cfg, tmp_path / "s0")
    assert warm.completion_only_loss and warm.report_to in ([], "none", ["none"])
    # a 7B model keeps TRL's activation checkpointing (memory); every stage shares the setting
    assert all(c.gradient_checkpointing for c in (stage1, stage2, stage3, warm))


def test_the_tiny_model_trains_without_activation_checkpointing_unless_asked(tmp_path):
    """Recomputing the forward in the backward saves the tiny model no memory worth having and cost a
    stage-0 step on CPU about a fifth of its time."""
    cpu = load_config("cpu", environ={}).reasoner
    assert cpu.is_tiny and not cpu.checkpoints_activations
    assert not trl_configs.sft_config(cpu.warm_start, cpu, tmp_path / "s0").gradient_checkpointing
    assert not trl_configs.grpo_config(cpu.stage1, cpu, tmp_path / "s1").gradient_checkpointing
    asked = cpu.model_copy(update={"gradient_checkpointing": True})
    assert trl_configs.sft_config(asked.warm_start, asked, tmp_path / "s0b").gradient_checkpointing


def test_grpo_batch_must_divide_by_group_size():
    with pytest.raises(ValueError, match="divisible by num_generations"):
        GRPOStageConfig(num_generations=4, batch_size=6)
    assert math.isclose(GRPOStageConfig(num_generations=3, batch_size=6).batch_size / 3, 2)
