"""Storage across machines (`runtime.storage`): two local homes stand for two hosts that share one fsspec location
(fsspec's in-memory backend stands for the bucket) and no filesystem."""

from __future__ import annotations

import shutil
import uuid
from collections import Counter
from pathlib import Path

import fsspec
import pytest
from pydantic import BaseModel
from spies import count_stage_bodies

from tasks import data_tasks
from tasks.caching import CACHE_ONLY, bound
from tasks.remote import localized_for, register
from tasks.runtime import artifact_root
from vta_core.artifacts import MANIFEST, ArtifactRef, ArtifactStore, write_json, write_text
from vta_core.config import ConfigError, VTAConfig, load_config
from vta_core.reasoner.loading import Checkpoint
from vta_core.remote_artifacts import RemoteArtifacts, RemoteStorageError
from vta_core.stages.cleanse_stage import cleanse_stage, source_fingerprint
from vta_core.stages.windows_stage import windows_stage


@pytest.fixture
def storage():
    """A fresh in-memory 'bucket', emptied afterwards."""
    name = f"vta-test-{uuid.uuid4().hex[:12]}"
    yield f"memory://{name}"
    fsspec.filesystem("memory").rm(f"/{name}", recursive=True)


@pytest.fixture
def executed(monkeypatch):
    return count_stage_bodies(monkeypatch, [cleanse_stage, windows_stage], Counter())


def host(tmp_path: Path, name: str, storage: str | None, *overrides: str) -> VTAConfig:
    storage_setting = [] if storage is None else [f"runtime.storage={storage}"]
    return load_config("smoke", overrides=[f"runtime.home={tmp_path / name}", *storage_setting, *overrides], environ={})


def data_stages(cfg: VTAConfig, cleaned_from: ArtifactRef | None = None) -> tuple[ArtifactRef, ArtifactRef]:
    """Cleanse and window on one host through the task bodies (what a Prefect task or a retry executes)."""
    register(cfg.runtime)  # what `bound` does when a flow binds the stage tasks to the run's runtime
    root, data = artifact_root(cfg.runtime), cfg.data
    cleaned = data_tasks.cleanse_prices.fn(data.source, data.calendar, source_fingerprint(data.source), root)
    windows = data_tasks.build_windows.fn(data.window, data.split, cleaned_from or cleaned, root)
    return cleaned, windows


def files_of(ref: ArtifactRef) -> dict[str, bytes]:
    return {p.relative_to(ref.path).as_posix(): p.read_bytes() for p in sorted(ref.path.rglob("*")) if p.is_file()}


def test_stage_written_on_one_host_is_served_on_another_without_recomputation(tmp_path, storage, executed):
    a, b, c = (host(tmp_path, name, storage) for name in "abc")
    cleaned_a, windows_a = data_stages(a)
    assert executed == Counter({"cleanse_stage": 1, "windows_stage": 1})
    remote = RemoteArtifacts(storage)
    assert remote.is_committed("cleanse", cleaned_a.key) and remote.is_committed("windows", windows_a.key)

    # Host B, with A's ref as its input (as a dispatched parameter would carry it): nothing runs, both folders
    # are B's own complete copies, byte for byte A's (the manifest included).
    cleaned_b, windows_b = data_stages(b, cleaned_from=cleaned_a)
    assert executed == Counter({"cleanse_stage": 1, "windows_stage": 1})
    assert (cleaned_b.key, windows_b.key) == (cleaned_a.key, windows_a.key)
    assert windows_b.path == artifact_root(b.runtime) / "windows" / windows_a.key and windows_b.is_complete()
    assert files_of(windows_b) == files_of(windows_a) and files_of(cleaned_b) == files_of(cleaned_a)

    # Host C's cache-only pass (no Prefect) finds the key in the storage and fetches it.
    token = CACHE_ONLY.set(True)
    try:
        root_c = artifact_root(c.runtime)
        windows_c = bound(data_tasks.build_windows, c.runtime)(c.data.window, c.data.split, cleaned_a, root_c)
    finally:
        CACHE_ONLY.reset(token)
    assert windows_c.path.is_relative_to(root_c) and windows_c.is_complete()
    assert executed == Counter({"cleanse_stage": 1, "windows_stage": 1})


def test_upload_that_died_before_its_manifest_is_not_trusted(tmp_path, storage, executed, monkeypatch):
    a, b, c = (host(tmp_path, name, storage) for name in "abc")
    put = RemoteArtifacts._put

    def dies_at_the_commit(self, local, remote):
        if remote.endswith("/" + MANIFEST):
            raise RemoteStorageError("connection lost")
        put(self, local, remote)

    monkeypatch.setattr(RemoteArtifacts, "_put", dies_at_the_commit)
    register(a.runtime)
    data = a.data
    with pytest.raises(RemoteStorageError):
        data_tasks.cleanse_prices.fn(
            data.source, data.calendar, source_fingerprint(data.source), artifact_root(a.runtime)
        )
    remote = RemoteArtifacts(storage)
    key = cleanse_stage.key(data.source, data.calendar, source_fingerprint(data.source))
    uploaded = {Path(p).name for p in remote.fs.find(remote.folder("cleanse", key))}
    assert "prices.parquet" in uploaded and MANIFEST not in uploaded and not remote.is_committed("cleanse", key)
    monkeypatch.setattr(RemoteArtifacts, "_put", put)

    data_stages(b)  # the uncommitted folder is not trusted: B runs the stage and commits its own copy
    assert executed["cleanse_stage"] == 2 and remote.is_committed("cleanse", key)
    data_stages(c)
    assert executed == Counter({"cleanse_stage": 2, "windows_stage": 1})  # C runs nothing

    # A's task retry (OSError is transient) finds its own complete folder and does not recompute it.
    assert data_stages(a)[0].is_complete() and executed["cleanse_stage"] == 2


class Refs(BaseModel):
    one: ArtifactRef
    many: list[ArtifactRef]
    by_name: dict[str, ArtifactRef]
    missing: ArtifactRef | None = None


def test_refs_from_another_host_resolve_to_this_hosts_copies(tmp_path, storage):
    a, b = host(tmp_path, "a", storage), host(tmp_path, "b", storage)
    cleaned, windows = data_stages(a)
    # As a dispatched stage flow's result arrives: JSON with A's absolute paths.
    sent = Refs(one=windows, many=[cleaned, windows], by_name={"w": windows}).model_dump(mode="json")
    received = localized_for(Refs.model_validate(sent), b.runtime)
    root_b = artifact_root(b.runtime)
    for ref in (received.one, *received.many, received.by_name["w"]):
        assert ref.path == root_b / ref.stage / ref.key and ref.is_complete()
    assert received.one.key == windows.key and received.missing is None
    assert localized_for(b.data, b.runtime) is b.data  # no refs inside: the very same object, nothing copied

    # Without a storage URL nothing is rewritten (a shared filesystem: paths are the same everywhere).
    unset = host(tmp_path, "b", None)
    original = Refs.model_validate(sent)
    assert localized_for(original, unset.runtime) is original


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/shared/vta", "expected an fsspec URL"),
        ("nosuch://bucket/vta", "unknown fsspec protocol 'nosuch'"),
        ("memory://", "names no bucket or host"),
        ("memory:///vta", "names no bucket or host"),
        ("file://relative/vta", "absolute folder"),
        ("s3:/bucket", "expected an fsspec URL"),
    ],
)
def test_bad_storage_url_fails_at_config_validation(value, message):
    with pytest.raises(ConfigError) as err:
        load_config("smoke", overrides=[f"runtime.storage={value}"], environ={})
    assert any(p.startswith("runtime.storage:") and message in p for p in err.value.problems), err.value.problems


def test_good_storage_urls_are_accepted_and_normalised(tmp_path):
    assert load_config("smoke", environ={}).runtime.storage is None
    url = f"file://{tmp_path}/bucket/"
    assert load_config("smoke", overrides=[f"runtime.storage={url}"], environ={}).runtime.storage == url.rstrip("/")
    env = {"VTA_RUNTIME__STORAGE": "memory://vta"}
    assert load_config("smoke", environ=env).runtime.storage == "memory://vta"


def test_file_url_storage_round_trip(tmp_path, executed):
    """A `file://` folder works like a bucket (what a mounted share or a test stand-in looks like)."""
    storage = f"file://{tmp_path}/bucket"
    data_stages(host(tmp_path, "a", storage))
    data_stages(host(tmp_path, "b", storage))
    assert executed == Counter({"cleanse_stage": 1, "windows_stage": 1})
    assert (tmp_path / "bucket" / "artifacts" / "windows").is_dir()


@pytest.mark.flow
def test_data_flow_on_two_hosts_sharing_a_file_url(harness, tmp_path, executed):
    """Through Prefect, with a `file://` storage (a mounted share): Prefect's results go to a saved
    LocalFileSystem block there (RemoteFileSystem refuses file://), and host B's tasks are cache hits."""
    from flows.data_flow import data_flow

    storage = f"file://{tmp_path}/bucket"
    first = data_flow(preset="smoke", config=host(tmp_path, "a", storage))
    assert executed == Counter({"cleanse_stage": 1, "windows_stage": 1})
    second = data_flow(preset="smoke", config=host(tmp_path, "b", storage))
    assert executed == Counter({"cleanse_stage": 1, "windows_stage": 1})
    assert second.windows.path.is_relative_to(tmp_path / "b") and second.prompts.is_complete()
    assert second.prompts.key == first.prompts.key
    records = {p.name for p in (tmp_path / "bucket" / "prefect-results").iterdir()}
    assert {f"windows-{first.windows.key}", f"prompts-{first.prompts.key}"} <= records
    assert not (tmp_path / "a" / "prefect-results").exists()


def test_reasoner_checkpoint_written_on_one_host_loads_from_another(tmp_path):
    """model.json names folders inside the store relative to itself, so a copy of the store reads its own files."""
    store_a = ArtifactStore(tmp_path / "a" / "artifacts")
    base = store_a.ref("reasoner_stage0", "k0")
    with store_a.writing("reasoner_stage0", "k0") as folder:
        write_text(folder / "model" / "config.json", "{}")
        Checkpoint(base=str(base.path / "model"), adapter=None).write(folder, base.path)
    grpo = store_a.ref("reasoner_grpo", "k1")
    with store_a.writing("reasoner_grpo", "k1") as folder:
        start = Checkpoint.read(base.path)
        Checkpoint(base=start.base, adapter=str(grpo.path / "adapter")).write(folder, grpo.path)
    assert '"./../../reasoner_stage0/k0/model"' in (grpo.path / "model.json").read_text()

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "a")
    root_b = (tmp_path / "b" / "artifacts").resolve()
    loaded = Checkpoint.read(root_b / "reasoner_grpo" / "k1")
    assert loaded.base == str(root_b / "reasoner_stage0" / "k0" / "model")
    assert loaded.adapter == str(root_b / "reasoner_grpo" / "k1" / "adapter")
    assert Path(loaded.base, "config.json").is_file()

    # A Hugging Face id and a model folder outside the store are kept as they are; so are older absolute paths.
    store_b = ArtifactStore(root_b)
    with store_b.writing("reasoner_base", "k2") as folder:
        Checkpoint(base="Qwen/Qwen2.5-7B-Instruct", adapter="/models/adapter").write(
            folder, root_b / "reasoner_base" / "k2"
        )
    expected = Checkpoint("Qwen/Qwen2.5-7B-Instruct", "/models/adapter")
    assert Checkpoint.read(store_b.ref("reasoner_base", "k2").path) == expected
    with store_b.writing("reasoner_base", "k3") as folder:
        write_json(folder / "model.json", {"base": "/old/host/artifacts/reasoner_stage0/k0/model", "adapter": None})
    assert (
        Checkpoint.read(store_b.ref("reasoner_base", "k3").path).base == "/old/host/artifacts/reasoner_stage0/k0/model"
    )


# --- end to end: the smoke pipeline on two hosts -----------------------------------------------------------------

PIPELINE_SWITCH = ["backtest.protocols=[run]", "reasoner.enabled=false"]


@pytest.mark.flow
@pytest.mark.e2e
def test_pipeline_on_a_second_host_executes_no_stage_body(harness, tmp_path, storage, monkeypatch):
    from prefect import get_client

    from flows.pipeline import cached_pipeline, vta_pipeline
    from vta_core.stages import registry

    stages = [s for s in registry.ALL_STAGES if not s.name.startswith("reasoner_")]
    executed = count_stage_bodies(monkeypatch, stages, Counter())
    a, b, c = (host(tmp_path, name, storage, *PIPELINE_SWITCH) for name in "abc")
    first = vta_pipeline(preset="smoke", config=a)
    assert {s.__name__ for s in stages} == set(executed)

    executed.clear()
    state = vta_pipeline(preset="smoke", config=b, return_state=True)
    second = state.result()
    assert executed == Counter(), "host B must serve every stage from the shared storage"
    root_b = artifact_root(b.runtime)
    for ref in (second.errors, *second.predictions, *second.data.model_dump().values()):
        ref = ArtifactRef.model_validate(ref)
        assert ref.path.is_relative_to(root_b) and ref.is_complete(), ref
    assert second.errors.key == first.errors.key and second.error_table_markdown == first.error_table_markdown
    assert Path(second.run_folder).is_relative_to(tmp_path / "b")

    # Prefect's results are in the storage, not under either home: the stage records and the flows' results,
    # which a parent on another host reads through the saved block (what `flows.dispatch.result_of` does).
    remote = RemoteArtifacts(storage)
    records = {Path(p).name for p in remote.fs.find(remote.path("prefect-results"))}
    assert f"error_evaluation-{first.errors.key}" in records
    assert not (tmp_path / "a" / "prefect-results").exists() and not (tmp_path / "b" / "prefect-results").exists()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.state is not None and run.state.data.storage_block_id is not None
    assert run.state.result().errors == second.errors

    # Host C, cache-only pass (how `vta run` starts): served from the storage without starting a flow run.
    fast = cached_pipeline(c)
    assert fast is not None and executed == Counter()
    assert fast.errors.path.is_relative_to(artifact_root(c.runtime)) and fast.errors.is_complete()
