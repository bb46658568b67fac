"""The fast decoding path against transformers' `generate`: the same tokens greedily, with EOS, padding
groups of equal and unequal prompt lengths, a repetition penalty, and seeded sampling."""

from __future__ import annotations

import pytest
import torch

from vta_core.config.reasoner_sections import ReasonerConfig, TinyModelConfig
from vta_core.prompts.parser import parse_answer
from vta_core.reasoner import decode_step, fast_decode, generation, loading, tiny_model
from vta_core.reasoner.answer_grammar import AnswerGrammar
from vta_core.reasoner.fast_decode import Sampling

WORDS = "the price rises above the moving average while RSI stays below seventy and momentum fades".split()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    cfg = TinyModelConfig(
        vocab_size=320, hidden_size=16, layers=2, heads=4, kv_heads=2, intermediate_size=32, max_positions=256
    )
    texts = [" ".join(WORDS[i:] + WORDS[:i]) + " 0.123 -4.56" for i in range(len(WORDS))]
    path = tiny_model.build_tiny_model(texts, cfg, tmp_path_factory.mktemp("fast") / "model", seed=3)
    model, tokenizer = loading.load_checkpoint(
        loading.Checkpoint(str(path), None), ReasonerConfig(device="cpu", tiny=cfg), trainable=False
    )
    with torch.no_grad():  # a random model at init scale repeats one token; larger weights vary the outputs
        for p in model.parameters():
            p.mul_(8.0)
    model.eval()
    return model, tokenizer


def _prompts(n: int) -> list[str]:
    # lengths vary, and several prompts share a length (exercises equal-length prefill groups)
    return [" ".join(WORDS[: 3 + (i * 7) % 11]) + f" {i % 10}.{i % 7}" for i in range(n)]


def _hf_tokens(model, tokenizer, prompts, max_new, eos, **sampling) -> list[list[int]]:
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(
            **enc, max_new_tokens=max_new, pad_token_id=tokenizer.pad_token_id, eos_token_id=eos, **sampling
        )
    rows = []
    for row in out[:, enc["input_ids"].shape[1] :].tolist():
        kept = []
        for t in row:
            kept.append(t)
            if t == eos:
                break
        rows.append(kept)
    return rows


def _frequent_mid_token(rows: list[list[int]]) -> int:
    """A token that ends some rows early and others late: a stand-in EOS that exercises row dropping."""
    counts: dict[int, int] = {}
    for row in rows:
        for t in set(row[2:-2]):
            counts[t] = counts.get(t, 0) + 1
    return max(counts, key=lambda t: (0 < counts[t] < len(rows), counts[t]))


@pytest.mark.parametrize("preallocated", [True, False], ids=["kv-decoder", "model-forward"])
def test_greedy_tokens_equal_generate_with_early_eos(tiny, preallocated):
    model, tokenizer = tiny
    assert decode_step.supports(model)
    prompts = _prompts(24)
    free = _hf_tokens(model, tokenizer, prompts, 20, eos=-1, do_sample=False)
    eos = _frequent_mid_token(free)
    expected = _hf_tokens(model, tokenizer, prompts, 20, eos=eos, do_sample=False)
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        got = fast_decode.decode_batch(model, ids, 20, eos, Sampling(), preallocated=preallocated)
    assert got == expected
    lengths = {len(r) for r in got}
    assert len(lengths) > 2 and min(lengths) < 20  # rows really finished at different steps


def test_repetition_penalty_matches_generate(tiny):
    model, tokenizer = tiny
    prompts = _prompts(12)
    expected = _hf_tokens(model, tokenizer, prompts, 16, eos=-1, do_sample=False, repetition_penalty=1.3)
    plain = _hf_tokens(model, tokenizer, prompts, 16, eos=-1, do_sample=False)
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        got = fast_decode.decode_batch(model, ids, 16, -1, Sampling(repetition_penalty=1.3))
    assert got == expected and got != plain  # the penalty changes the output, and exactly as transformers does


def test_texts_keep_prompt_order_across_batches_and_match_the_hf_engine(tiny):
    model, tokenizer = tiny
    prompts = _prompts(13)
    calls: list[int] = []
    fast = fast_decode.fast_decode_texts(model, tokenizer, prompts, 4, 12, Sampling(), on_batch=calls.append)
    slow = generation.decode_texts(model, tokenizer, prompts, 4, 12, 0.0, engine="hf")
    assert fast == slow and calls == [4, 4, 4, 1]


def test_sampling_is_seeded_and_differs_from_greedy(tiny):
    model, tokenizer = tiny
    prompts = _prompts(8)
    runs = [fast_decode.fast_decode_texts(model, tokenizer, prompts, 8, 12, Sampling(1.0), seed=s) for s in (5, 5, 6)]
    greedy = fast_decode.fast_decode_texts(model, tokenizer, prompts, 8, 12, Sampling())
    assert runs[0] == runs[1] and runs[0] != runs[2] and runs[0] != greedy


def test_sampling_draws_from_softmax_of_scaled_logits():
    logits = torch.tensor([[2.0, 0.0, -1.0]]).repeat(20000, 1)
    gen = torch.Generator().manual_seed(0)
    drawn = fast_decode._next_tokens(logits, None, Sampling(temperature=2.0), gen)
    freq = torch.bincount(drawn, minlength=3).float() / len(drawn)
    expected = torch.softmax(torch.tensor([2.0, 0.0, -1.0]) / 2.0, dim=0)
    assert torch.allclose(freq, expected, atol=0.015)


@pytest.mark.parametrize("bad", [{"temperature": -0.1}, {"repetition_penalty": 0.0}])
def test_bad_sampling_is_refused(bad):
    with pytest.raises(ValueError, match="temperature"):
        Sampling(**bad)


# --- the answer grammar (constrained decoding of the answer format) ---


def _constrained(model, tokenizer, prompts, horizon, max_new, temperature=0.0):
    grammar = AnswerGrammar(tokenizer, horizon, max_new)
    texts = fast_decode.fast_decode_texts(
        model, tokenizer, prompts, 8, max_new, Sampling(temperature), seed=1, grammar=grammar
    )
    return grammar, texts


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_every_constrained_output_parses_even_from_a_random_model(tiny, temperature):
    model, tokenizer = tiny
    prompts = _prompts(10)
    free = fast_decode.fast_decode_texts(model, tokenizer, prompts, 8, 120, Sampling(temperature), seed=1)
    assert not any(parse_answer(t, 3).valid for t in free)  # unconstrained, the random model never complies
    _, texts = _constrained(model, tokenizer, prompts, 3, 120, temperature)
    parsed = [parse_answer(t, 3) for t in texts]
    assert all(p.valid for p in parsed), [p.error for p in parsed]
    assert len({p.forecast for p in parsed}) > 1  # the values are still the model's own choice per window


def test_the_think_block_closes_at_its_budget(tiny):
    model, tokenizer = tiny
    grammar = AnswerGrammar(tokenizer, 2, 60)
    ids = tokenizer(_prompts(4), add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        out = fast_decode.decode_batch(model, ids, 60, tokenizer.eos_token_id, Sampling(), grammar=grammar)
    for row in out:
        text = tokenizer.decode(row)
        assert text.startswith("<think>") and row[-1] == tokenizer.eos_token_id and len(row) <= 60
        assert parse_answer(tokenizer.decode(row, skip_special_tokens=True), 2).valid


def test_too_few_new_tokens_for_the_answer_is_refused(tiny):
    _, tokenizer = tiny
    with pytest.raises(ValueError, match="no room to think"):
        AnswerGrammar(tokenizer, 10, 40)


def test_the_automaton_allows_only_number_continuations(tiny):
    _, tokenizer = tiny
    g = AnswerGrammar(tokenizer, 2, 80)
    (row,) = g.start(1)

    def feed(ids: list[int]) -> None:
        for t in ids:
            g.observe([row], [t])

    def allowed() -> set[int]:
        masked, _ = g.constrain(torch.zeros(1, len(tokenizer)), [row])
        return set(torch.nonzero(masked[0] > -1).flatten().tolist())

    tok = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    digits = {i for i in range(len(tokenizer)) if g.texts[i].isdigit()}
    feed(g.think_open)
    assert g.think_close[0] not in allowed()  # an empty reasoning would not parse
    feed(tok("up"))
    assert tokenizer.eos_token_id not in allowed()  # nor would a sequence that ends inside the reasoning
    assert g.think_close[0] in allowed()
    feed(g.think_close)
    assert row.forced == g.answer_open  # '\n<answer>[' is forced next
    feed(g.answer_open)
    assert allowed() == digits | {g.minus}
    feed([g.minus])
    assert allowed() == digits  # no second minus, no point, no end right after '-'
    feed(tok("4"))
    assert allowed() == digits | {g.point, g.comma}  # the first of two values ends with ','
    feed([g.point])
    assert allowed() == digits
    feed(tok("5") + [g.comma] + g.separator[1:] + tok("7"))
    assert allowed() == digits | {g.point, g.bracket}  # the last value ends with ']'
    feed(tok("8"))
    assert allowed() == {g.point, g.bracket}  # two digits before the point (100 sd) is the most a value has
    feed([g.bracket])
    assert row.forced == g.close[1:] + [tokenizer.eos_token_id]


@pytest.fixture(scope="module")
def signed_tokenizer(tmp_path_factory):
    """A tokenizer that, like Qwen2's on the analyst's answers, merges a value's minus into '[-' and ' -'."""
    cfg = TinyModelConfig(
        vocab_size=320, hidden_size=16, layers=1, heads=2, kv_heads=1, intermediate_size=32, max_positions=256
    )
    texts = [f"prices:\n[-0.{i}5, -1.{i}, 0.{i}]\n[0.{i}, -0.{i}] the price {WORDS[i]}" for i in range(len(WORDS))] * 8
    path = tiny_model.build_tiny_model(texts, cfg, tmp_path_factory.mktemp("signed") / "model", seed=3)
    return loading.load_checkpoint(
        loading.Checkpoint(str(path), None), ReasonerConfig(device="cpu", tiny=cfg), trainable=False
    )[1]


def test_a_minus_merged_into_the_token_before_a_value_is_offered_not_lost(signed_tokenizer):
    tokenizer = signed_tokenizer
    g = AnswerGrammar(tokenizer, 3, 120)
    tok = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    (open_plain,), (open_signed,) = tok("["), tok("[-")
    (sep_plain,), (sep_signed,) = tok(" "), tok(" -")
    assert g.signed == {open_plain: open_signed, sep_plain: sep_signed}
    (row,) = g.start(1)

    def feed(ids: list[int]) -> None:
        for t in ids:
            g.observe([row], [t])

    def allowed() -> set[int]:
        masked, forced = g.constrain(torch.zeros(1, len(tokenizer)), [row])
        assert forced.item() == -1  # a choice, not a forced token
        return set(torch.nonzero(masked[0] > -1).flatten().tolist())

    feed(g.think_open + tok("up") + g.think_close)
    assert row.forced == g.answer_open[:-1]  # '\n<answer>' forced, then '[' or '[-'
    feed(row.forced.copy())
    assert allowed() == {open_plain, open_signed}
    feed([open_signed])
    digits = {i for i in range(len(tokenizer)) if g.texts[i].isdigit()}
    assert allowed() == digits  # the merged minus counts as the value's sign: a digit must follow
    feed(tok("0") + [g.point] + tok("5") + [g.comma])
    assert allowed() == {sep_plain, sep_signed}
    feed([sep_signed] + tok("1") + [g.comma, sep_plain] + tok("2") + [g.bracket])
    text = tokenizer.decode(g.think_open + tok("up") + g.think_close + g.answer_open[:-1])
    text += tokenizer.decode([open_signed] + tok("0") + [g.point] + tok("5") + [g.comma, sep_signed] + tok("1"))
    text += tokenizer.decode([g.comma, sep_plain] + tok("2") + g.close)
    assert parse_answer(text, 3).forecast == (-0.5, -1.0, 2.0)
    assert row.forced == g.close[1:] + [tokenizer.eos_token_id]
