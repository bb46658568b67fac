"""The paper's own numbers (arXiv 2511.08616, StockNet, standardised space, T = T' = 10)."""

from __future__ import annotations

import pandas as pd

SOURCE = "paper (arXiv 2511.08616)"
# model, MSE, MAE: the paper's main StockNet comparison (SPEC section 9).
MAIN_TABLE = [
    ("VTA", 0.0659, 0.1701),
    ("CALF", 0.0674, 0.1738),
    ("TimeLLM", 0.0704, 0.1780),
    ("TimesNet", 0.0708, 0.1789),
    ("DeepSeek-R1", 0.0788, 0.1853),
    ("GPT-4.1 mini", 0.0846, 0.1827),
    ("DLinear", 0.1589, 0.3021),
    ("TSMixer", 1.4974, 0.8193),
]
# Reasoner ablation, Qwen2.5-7B (MSE only).
ABLATION = [
    ("base model", 0.0949),
    ("cold-start RL (stage 1)", 0.0941),
    ("SFT (stage 2)", 0.0893),
    ("RL for reasoning (stage 3)", 0.0686),
    ("+ conditioning (VTA)", 0.0659),
]


def paper_rows() -> pd.DataFrame:
    return pd.DataFrame(
        [{"model": m, "source": SOURCE, "split": "test", "mse": mse, "mae": mae} for m, mse, mae in MAIN_TABLE]
    )
