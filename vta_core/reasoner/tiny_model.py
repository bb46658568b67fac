"""The offline default reasoner: a tokenizer trained here and a randomly initialised small Qwen2 model.

No weights can be downloaded on the machines this runs on, so the default builds its own causal
LM and saves it with `save_pretrained`; every later stage loads it back through
`AutoModelForCausalLM` / `AutoTokenizer.from_pretrained`, exactly the path a real model folder takes.

transformers 5 rebuilds the tokenizer of a `qwen2` model as `Qwen2Tokenizer` with Qwen2's own
regex pre-tokenizer and NFC normaliser, whatever the saved tokenizer.json says; training the BPE
with that very pre-tokenizer keeps token ids identical after the reload (and splits numbers one
digit per token, which suits the forecasts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from vta_core.config.reasoner_sections import TinyModelConfig
from vta_core.prompts.parser import TAGS

LOG = logging.getLogger(__name__)
# The pattern of transformers' Qwen2Tokenizer (see the module docstring for why it must match).
QWEN2_PRETOKENIZE = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
PAD, BOS_CHAT, EOS_CHAT = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (PAD, BOS_CHAT, EOS_CHAT)
# Qwen's chat layout; `{% generation %}` marks assistant text so TRL can mask the loss to it.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

if TYPE_CHECKING:  # transformers' model classes are imported where used (seconds a cached run saves)
    from transformers import PreTrainedTokenizerFast


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    """Byte-level BPE on the corpus; the answer tags are single tokens so the format is cheap to learn."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_CHAT, pad_token=PAD, unk_token=None)
    wrapped.add_tokens(list(TAGS))  # normal (not special) tokens: decoding must keep them
    wrapped.chat_template = CHAT_TEMPLATE
    wrapped.padding_side = "left"  # decoder-only batched generation pads on the left
    return wrapped


def build_tiny_model(texts: Iterable[str], cfg: TinyModelConfig, out: Path, seed: int) -> Path:
    """Train the tokenizer, initialise the model, save both to `out` (a from_pretrained folder)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    LOG.info("tiny reasoner: vocabulary %d, %d parameters, saved to %s", len(tokenizer), n_params, out)
    return out
