"""Reasoner stage 0: SFT warm start on the rule-based analyst's narratives (off for pretrained instruct models)."""

from __future__ import annotations

import logging
import shutil
import time

from vta_core.artifacts import ArtifactRef, require
from vta_core.config.reasoner_sections import LoRAConfig, ReasonerConfig, SFTStageConfig
from vta_core.identities import StageName
from vta_core.reasoner import copy_curriculum, corpus, level_shift, loading, training, trl_configs
from vta_core.reasoner.loading import Checkpoint
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.reasoner_common import finish_training, seed_everything

LOG = logging.getLogger(__name__)


@stage(StageName.REASONER_STAGE0, unkeyed=("progress",))
def warm_start_stage(
    reasoner: ReasonerConfig,
    warm_start: SFTStageConfig,
    lora: LoRAConfig | None,
    base: ArtifactRef,
    analyst: ArtifactRef,
    out: StageOutput,
    progress: training.Progress | None = None,
) -> ArtifactRef:
    """Stage 0: SFT on the rule-based analyst's narratives; writes a full model (LoRA merged if used).
    `lora` is None exactly when the warm start fine-tunes every weight (it is then not part of the key)."""
    import datasets  # imported here: seconds at import time that a cached run does not need

    if (lora is None) != warm_start.full_finetune:
        raise ValueError("stage 0 takes a LoRA config exactly when warm_start.full_finetune is off")
    started, final = time.perf_counter(), out.final_path
    seed_everything(reasoner)
    records = corpus.subsample(corpus.analyst_records(analyst, "train"), warm_start.max_records, reasoner.seed)
    completions = [
        corpus.compact_narrative(corpus.warm_start_completion(r, warm_start.narrative), warm_start.think_sentences)
        for r in records
    ]
    model, tokenizer = loading.load_checkpoint(
        Checkpoint.read(require(base).path),
        reasoner,
        trainable=True,
        new_lora=None if warm_start.full_finetune else lora,
    )
    work = out.work_dir()
    log = training.ProgressLog("stage 0", progress)
    copy_records = 0
    if warm_start.copy_epochs > 0:
        rows, texts = copy_curriculum.copy_rows(
            records,
            completions,
            warm_start.copy_synthetic_fraction,
            reasoner.seed,
            context=warm_start.copy_context,
        )
        LOG.info("stage 0: copy curriculum, %d records x %g epochs", len(rows), warm_start.copy_epochs)
        copy_records = len(rows)
        model = training.run_sft(
            model,
            tokenizer,
            datasets.Dataset.from_dict(corpus.sft_rows(rows, texts)),
            trl_configs.sft_config(
                warm_start.model_copy(update={"epochs": warm_start.copy_epochs}), reasoner, work / "copy"
            ),
            training.ProgressLog("stage 0 copy", progress),
        )
    records, completions, shifted = level_shift.level_shift_rows(
        records, completions, warm_start.level_shift_fraction, warm_start.level_shift_max, reasoner.seed
    )
    if shifted:
        LOG.info("stage 0: %d of %d narrative records moved by a level shift", shifted, len(records))
    model = training.run_sft(
        model,
        tokenizer,
        datasets.Dataset.from_dict(corpus.sft_rows(records, completions)),
        trl_configs.sft_config(warm_start, reasoner, work / "narratives"),
        log,
    )
    if not warm_start.full_finetune:
        model = model.merge_and_unload()  # later stages put their own LoRA on this full model
    with out.writing() as folder:
        model.save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "model")
        Checkpoint(base=str(final / "model"), adapter=None).write(folder, final)
        finish_training(
            log, folder, started, {"records": len(records), "copy_records": copy_records, "level_shifted": shifted}
        )
    shutil.rmtree(work, ignore_errors=True)
    return out.ref
