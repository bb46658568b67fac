"""Reasoner stage 2: rejection sampling of the stage-1 model on training windows, then SFT on the best."""

from __future__ import annotations

import logging
import shutil
import time

import numpy as np
import pandas as pd

from vta_core.artifacts import ArtifactRef, require, write_parquet
from vta_core.config.reasoner_sections import ReasonerConfig, RejectionConfig
from vta_core.identities import StageName
from vta_core.progress import PercentHook, Steps
from vta_core.reasoner import corpus, generation, loading, rejection, rewards, training, trl_configs
from vta_core.reasoner.loading import Checkpoint
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.reasoner_common import finish_training, seed_everything

LOG = logging.getLogger(__name__)


@stage(StageName.REASONER_STAGE2, unkeyed=("progress", "decoding_progress"))
def rejection_stage(
    reasoner: ReasonerConfig,
    rejection_config: RejectionConfig,
    init: ArtifactRef,
    prompts: ArtifactRef,
    out: StageOutput,
    progress: training.Progress | None = None,
    decoding_progress: PercentHook | None = None,
) -> ArtifactRef:
    """Stage 2: decode the stage-1 model on training windows, keep the best fraction per (ticker, period)
    bucket, SFT the stage-1 adapter on those completions (loss on the completion only). `progress(row)` hears
    of the SFT's logged steps, `decoding_progress(percent)` of the windows decoded out of all."""
    import datasets  # imported here: seconds at import time that a cached run does not need

    started, final = time.perf_counter(), out.final_path
    seed_everything(reasoner)
    records = corpus.subsample(corpus.prompt_records(prompts, "train"), rejection_config.max_windows, reasoner.seed + 2)
    start = Checkpoint.read(require(init).path)
    model, tokenizer = loading.load_checkpoint(start, reasoner, trainable=True)
    model.to(loading.torch_device(reasoner.device))  # type: ignore[arg-type]  # functools.wraps stub: self unbound
    horizon = len(records[0]["target"]) if records else 0
    steps = Steps(decoding_progress, len(records))
    steps.start()
    # Sample from a merged copy (faster to decode); the SFT below continues the unmerged adapter.
    sampler, _ = loading.load_for_decoding(start, reasoner)
    decoded = generation.generate(
        sampler,
        tokenizer,
        records,
        horizon,
        rejection_config.batch_size,
        rejection_config.max_new_tokens,
        rejection_config.temperature,
        1.0,
        0,
        reasoner.seed,
        on_batch=steps.advance,
        engine=rejection_config.engine,
        constrained=rejection_config.answer_grammar,
    )
    del sampler
    steps.finish()
    mses = [rewards.forecast_mse(d.text, r["target"]) for d, r in zip(decoded, records, strict=False)]
    frame = pd.DataFrame(
        {
            "ticker": [r["ticker"] for r in records],
            "window_end_date": [r["window_end_date"] for r in records],
            "mse": [np.nan if m is None else m for m in mses],
        }
    )
    kept = rejection.select_best(frame, rejection_config.keep_fraction, rejection_config.period)
    chosen = kept.index.to_numpy()
    work = out.work_dir()
    log = training.ProgressLog("stage 2", progress)
    if kept.empty:
        # Nothing parsable to imitate (an under-trained tiny model): keep the stage-1 adapter as it is rather
        # than fail the whole flow; the report says the SFT was skipped.
        LOG.warning("stage 2: no parsable completion among %d decoded training windows; SFT skipped", len(records))
    else:
        rows = corpus.sft_rows([records[i] for i in chosen], [decoded[i].text for i in chosen])
        model = training.run_sft(
            model,
            tokenizer,
            datasets.Dataset.from_dict(rows),
            trl_configs.sft_config(rejection_config.sft, reasoner, work),
            log,
        )
    with out.writing() as folder:
        model.save_pretrained(str(folder / "adapter"))
        Checkpoint(base=start.base, adapter=str(final / "adapter")).write(folder, final)
        write_parquet(folder / "selection.parquet", frame.assign(kept=frame.index.isin(chosen)))
        finish_training(
            log,
            folder,
            started,
            {
                "decoded": len(records),
                "parsable": int(frame["mse"].notna().sum()),
                "kept": len(chosen),
                "sft_skipped": bool(kept.empty),
                "kept_mean_mse": float(kept["mse"].mean()) if len(kept) else None,
                "decoded_mean_mse": float(frame["mse"].mean()),
            },
        )
    shutil.rmtree(work, ignore_errors=True)
    return out.ref
