"""Price sources shared by training (`data.source`) and the daily forecast: a file, a folder of files, an fsspec
URL; their digest (part of the cleansing key) changes exactly when a file is added or edited."""

from __future__ import annotations

import fsspec
import pandas as pd
import pytest

from vta_core.config import ConfigError, load_config
from vta_core.config.data_sections import CalendarConfig, SourceConfig
from vta_core.data import cleansing
from vta_core.data.problems import DataValidationError
from vta_core.data.sources import read_source, source_digest
from vta_core.stages.cleanse_stage import cleanse_stage, source_fingerprint

COLUMNS = ["date", "ticker", "Open", "High", "Low", "Close", "Adj Close", "Volume"]


@pytest.fixture
def files(stocknet_raw, tmp_path):
    """AAPL and XOM up to 2017-06-30 split in two files by date, and the same rows in one file."""
    rows = stocknet_raw[stocknet_raw["ticker"].isin(["AAPL", "XOM"]) & (stocknet_raw["date"] <= "2017-06-30")]
    folder = tmp_path / "prices"
    folder.mkdir()
    early, late = rows[rows["date"] < "2017-01-01"], rows[rows["date"] >= "2017-01-01"]
    early[COLUMNS].to_csv(folder / "a-2016.csv", index=False, date_format="%Y-%m-%d")
    late[COLUMNS].to_parquet(folder / "b-2017.parquet", index=False)
    single = tmp_path / "all.csv"
    rows[COLUMNS].to_csv(single, index=False, date_format="%Y-%m-%d")
    return folder, single


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    prices = cleansing.cleanse(frame, CalendarConfig()).prices
    prices = prices.drop(columns=["_file", "_row"], errors="ignore")
    return prices.sort_values(["ticker", "date"]).reset_index(drop=True)


def test_a_folder_reads_like_one_file_and_names_each_file(files):
    folder, single = files
    from_folder, from_file = read_source(str(folder)), read_source(str(single))
    assert set(from_folder["_file"].astype(str)) == {"a-2016.csv", "b-2017.parquet"}
    pd.testing.assert_frame_equal(_clean(from_folder), _clean(from_file), check_dtype=False)
    only = read_source(str(folder), ("XOM",))
    assert set(only["ticker"]) == {"XOM"}
    with pytest.raises(DataValidationError, match="requested ticker 'MSFT'"):
        read_source(str(folder), ("MSFT",))


def test_an_fsspec_url_reads_like_the_folder(files):
    folder, _ = files
    fs = fsspec.filesystem("memory")
    for file in folder.iterdir():
        fs.pipe(f"/bucket/prices/{file.name}", file.read_bytes())
    remote = read_source("memory://bucket/prices")
    pd.testing.assert_frame_equal(_clean(remote), _clean(read_source(str(folder))), check_dtype=False)
    assert source_digest("memory://bucket/prices") != source_digest("memory://bucket/nothing-here")
    with pytest.raises(DataValidationError, match="no such file or folder"):
        read_source("memory://bucket/nothing-here")


def test_digest_changes_exactly_when_a_file_is_added_or_edited(files, stocknet_raw):
    folder, _ = files
    before = source_digest(str(folder))
    assert source_digest(str(folder)) == before  # stable
    new_day = stocknet_raw[(stocknet_raw["ticker"] == "AAPL") & (stocknet_raw["date"] == "2017-07-03")]
    new_day[COLUMNS].to_csv(folder / "c-2017-07-03.csv", index=False, date_format="%Y-%m-%d")
    added = source_digest(str(folder))
    assert added != before
    text = (folder / "a-2016.csv").read_text()
    (folder / "a-2016.csv").write_text(text.replace(text.splitlines()[1], text.splitlines()[1][:-1] + "1", 1))
    assert source_digest(str(folder)) not in (before, added)


def test_the_cleansing_key_follows_the_folder(files, stocknet_raw):
    folder, _ = files
    source, calendar = SourceConfig(kind="file", path=str(folder)), CalendarConfig()
    key = cleanse_stage.key(source=source, calendar=calendar, input_fingerprint=source_fingerprint(source))
    again = cleanse_stage.key(source=source, calendar=calendar, input_fingerprint=source_fingerprint(source))
    new_day = stocknet_raw[(stocknet_raw["ticker"] == "XOM") & (stocknet_raw["date"] == "2017-07-03")]
    new_day[COLUMNS].to_csv(folder / "c-2017-07-03.csv", index=False, date_format="%Y-%m-%d")
    appended = cleanse_stage.key(source=source, calendar=calendar, input_fingerprint=source_fingerprint(source))
    assert key == again and appended != key  # the nightly retrain sees the new day; unchanged inputs stay cached


def test_source_config_rejects_an_unknown_protocol():
    with pytest.raises(ConfigError, match="unknown fsspec protocol 'nosuch'"):
        load_config("smoke", overrides=["data.source.kind=file", "data.source.path=nosuch://x/y"], environ={})
    cfg = load_config("smoke", overrides=["data.source.kind=file", "data.source.path=s3://desk/prices/"], environ={})
    assert cfg.data.source.path == "s3://desk/prices/"
