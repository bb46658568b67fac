"""Reasoner base model stage: the tiny model built from the analyst corpus, or a pointer to a HF model."""

from __future__ import annotations

import logging

from vta_core.artifacts import ArtifactRef
from vta_core.config.reasoner_sections import ReasonerConfig
from vta_core.identities import StageName
from vta_core.reasoner import corpus, tiny_model
from vta_core.reasoner.loading import Checkpoint
from vta_core.stage_keys import StageOutput, stage

LOG = logging.getLogger(__name__)


@stage(StageName.REASONER_BASE)
def base_stage(
    reasoner: ReasonerConfig, prompts: ArtifactRef | None, analyst: ArtifactRef | None, out: StageOutput
) -> ArtifactRef:
    """The tiny model built from the corpus, or a pointer to the configured HF model (nothing copied)."""
    final = out.final_path
    with out.writing() as folder:
        if reasoner.is_tiny:
            if prompts is None or analyst is None:
                raise ValueError("the tiny-local reasoner needs the prompts and analyst artifacts for its corpus")
            records = corpus.subsample(
                corpus.analyst_records(analyst, "train"), reasoner.tiny.corpus_records, reasoner.seed
            )
            tiny_model.build_tiny_model(
                corpus.tokenizer_corpus(records), reasoner.tiny, folder / "model", reasoner.seed
            )
            Checkpoint(base=str(final / "model"), adapter=None).write(folder, final)
        else:
            Checkpoint(base=reasoner.model, adapter=None).write(folder, final)
    return out.ref
