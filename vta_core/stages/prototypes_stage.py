"""Language prototypes stage: top-k principal directions of a language model's word embeddings."""

from __future__ import annotations

from safetensors.numpy import save_file

from vta_core.artifacts import ArtifactRef, write_json
from vta_core.config.model_sections import PrototypeConfig
from vta_core.identities import StageName
from vta_core.models import prototypes as protos
from vta_core.stage_keys import StageOutput, stage


@stage(StageName.PROTOTYPES)
def prototypes_stage(prototypes: PrototypeConfig, out: StageOutput) -> ArtifactRef:
    """Top-k principal directions of the source's word embeddings, cached as an artifact."""
    matrix, explained = protos.principal_prototypes(protos.word_embeddings(prototypes.source), prototypes.n_prototypes)
    with out.writing() as folder:
        save_file({"prototypes": matrix}, str(folder / "prototypes.safetensors"))
        write_json(
            folder / "prototypes_report.json",
            {"source": prototypes.source, "shape": list(matrix.shape), "explained_variance": float(explained.sum())},
        )
    return out.ref
