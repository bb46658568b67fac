"""Bad input: each case gives one clear error naming file, ticker, row and rule, or an audited drop."""

from __future__ import annotations

from pathlib import Path

import exchange_calendars as xcals
import pandas as pd
import pytest

from vta_core.artifacts import ArtifactStore
from vta_core.config import ConfigError, load_config
from vta_core.config.sections import CalendarConfig
from vta_core.data.cleansing import cleanse
from vta_core.data.problems import DataValidationError
from vta_core.data.reading import read_prices
from vta_core.stages.cleanse_stage import cleanse_stage, source_fingerprint
from vta_core.stages.loaders import load_windows
from vta_core.stages.windows_stage import windows_stage

SESSIONS = xcals.get_calendar("XNYS", start="2016-01-04", end="2016-12-30").sessions.strftime("%Y-%m-%d")
HEADER = "date,ticker,Open,High,Low,Close,Adj Close,Volume"


def valid_rows(ticker: str = "AAA", n: int = 60, base: float = 10.0) -> list[str]:
    return [
        f"{SESSIONS[i]},{ticker},{base + i * 0.1:.2f},{base + i * 0.1 + 0.5:.2f},{base + i * 0.1 - 0.5:.2f},"
        f"{base + i * 0.1 + 0.2:.2f},{base + i * 0.1 + 0.1:.2f},{1000 + i}"
        for i in range(n)
    ]


def write(tmp_path: Path, rows: list[str], name: str = "prices.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def two_tickers() -> list[str]:
    return valid_rows("AAA") + valid_rows("BBB", base=50.0)


def replace_row(rows: list[str], index: int, **fields: str) -> list[str]:
    names = HEADER.split(",")
    parts = rows[index].split(",")
    for key, value in fields.items():
        parts[names.index(key.replace("_", " ") if key == "Adj_Close" else key)] = value
    return [*rows[:index], ",".join(parts), *rows[index + 1 :]]


def read_error(path: Path) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        read_prices(path)
    return info.value


# ------------------------------------------------------------------- structural errors


def test_missing_column_names_it_and_hints_case(tmp_path):
    path = write(
        tmp_path,
        [r.rsplit(",", 1)[0] for r in valid_rows()],
        header=HEADER.replace(",Volume", "").replace("Close,Adj", "close,Adj"),
    )
    err = read_error(path)
    assert err.problems[0].rule == "missing_column" and err.problems[0].file == "prices.csv"
    assert "'Volume'" in str(err) and "found 'close'" in str(err)


def test_wrong_dtype_column(tmp_path):
    rows = [r.rsplit(",", 1)[0] + ",lots" for r in valid_rows()]
    err = read_error(write(tmp_path, rows))
    assert [(p.rule, p.column) for p in err.problems] == [("wrong_dtype", "Volume")]


def test_single_non_numeric_cell_names_ticker_row_and_column(tmp_path):
    rows = replace_row(two_tickers(), 65, Close="12,5".replace(",", ";"))
    err = read_error(write(tmp_path, rows))
    (problem,) = err.problems
    assert (problem.rule, problem.ticker, problem.row, problem.column) == ("not_a_number", "BBB", 66, "Close")
    assert "prices.csv, ticker BBB, row 66, column 'Close': [not_a_number]" in str(err)


def test_bad_date(tmp_path):
    err = read_error(write(tmp_path, replace_row(valid_rows(), 3, date="2016-13-45")))
    assert (err.problems[0].rule, err.problems[0].row, err.problems[0].ticker) == ("bad_date", 4, "AAA")


def test_several_problems_are_listed_at_once(tmp_path):
    rows = replace_row(replace_row(valid_rows(), 1, High="x"), 5, date="yesterday")
    err = read_error(write(tmp_path, rows))
    assert {p.rule for p in err.problems} == {"not_a_number", "bad_date"} and "2 data problem(s)" in str(err)


@pytest.mark.parametrize(
    ("content", "rule"),
    [(HEADER + "\n", "empty_file"), ("", "empty_file")],
    ids=["header-only", "zero-bytes"],
)
def test_empty_files(tmp_path, content, rule):
    path = tmp_path / "prices.csv"
    path.write_text(content)
    assert read_error(path).problems[0].rule == rule


def test_missing_file_and_unsupported_format(tmp_path):
    assert read_error(tmp_path / "nope.csv").problems[0].rule == "file_missing"
    odd = tmp_path / "prices.xlsx"
    odd.write_text("x")
    assert read_error(odd).problems[0].rule == "unsupported_format"


def test_unknown_requested_ticker(tmp_path):
    with pytest.raises(DataValidationError, match="'ZZZ' is not in the file"):
        read_prices(write(tmp_path, valid_rows()), tickers=("AAA", "ZZZ"))


# ------------------------------------------------------------------- audited drops


def cleansed(tmp_path: Path, rows: list[str], suffix: str = ".csv"):
    path = write(tmp_path, rows)
    if suffix == ".parquet":
        parquet = tmp_path / "prices.parquet"
        pd.read_csv(path, dtype=str, keep_default_na=False).to_parquet(parquet)
        path = parquet
    raw = read_prices(path)
    result = cleanse(raw, CalendarConfig())
    assert len(raw) == len(result.prices) + len(result.audit), "every row is kept or audited"
    return raw, result


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (
            {"Open": "null", "High": "null", "Low": "null", "Close": "null", "Adj_Close": "null", "Volume": "null"},
            "missing_value",
        ),
        ({"Close": "NaN"}, "missing_value"),
        ({"High": "inf"}, "non_finite"),
        ({"Low": "0"}, "non_positive_price"),
        ({"Adj_Close": "-3.5"}, "non_positive_price"),
        ({"Volume": "-10"}, "negative_volume"),
        ({"High": "5", "Low": "6", "Open": "5.5", "Close": "5.5"}, "ohlc_inconsistent"),
        ({"High": "10.3"}, "ohlc_inconsistent"),  # High below max(Open, Close)
        ({"date": "2016-01-09"}, "off_calendar"),  # a Saturday
        ({"date": "2016-07-04"}, "off_calendar"),  # Independence Day
    ],
)
def test_bad_rows_are_dropped_and_audited(tmp_path, change, rule, suffix):
    fields = {k: v for k, v in change.items()}
    rows = replace_row(two_tickers(), 2, **fields)
    raw, result = cleansed(tmp_path, rows, suffix)
    assert len(result.audit) == 1
    entry = result.audit.iloc[0]
    assert (entry["rule"], entry["ticker"], int(entry["_row"]), entry["_file"]) == (rule, "AAA", 3, f"prices{suffix}")
    assert len(result.prices) == len(raw) - 1


def test_zero_volume_is_kept(tmp_path):
    _, result = cleansed(tmp_path, replace_row(two_tickers(), 2, Volume="0"))
    assert result.audit.empty


@pytest.mark.parametrize("identical", [True, False])
def test_duplicate_date_keeps_first_and_audits_the_rest(tmp_path, identical):
    rows = two_tickers()
    duplicate = rows[4] if identical else rows[4].rsplit(",", 1)[0] + ",1"
    raw, result = cleansed(tmp_path, [*rows[:5], duplicate, *rows[5:]])
    assert list(result.audit["rule"]) == ["duplicate"] and int(result.audit["_row"].iloc[0]) == 6
    kept = result.prices[(result.prices["ticker"] == "AAA") & (result.prices["date"] == pd.Timestamp(SESSIONS[4]))]
    assert len(kept) == 1 and kept["Volume"].iloc[0] == 1004


def test_unsorted_dates_are_sorted_and_reported(tmp_path):
    rows = two_tickers()
    rows[3], rows[10] = rows[10], rows[3]
    raw, result = cleansed(tmp_path, rows)
    assert result.audit.empty and result.reordered_tickers == ("AAA",)
    aaa = result.prices[result.prices["ticker"] == "AAA"]["date"]
    assert aaa.is_monotonic_increasing and len(aaa) == 60


def test_ticker_with_five_rows_is_excluded_not_fatal(tmp_path):
    path = write(tmp_path, valid_rows("AAA", n=150) + valid_rows("BBB", n=150) + valid_rows("TINY", n=5))
    cfg = load_config(
        "smoke", overrides=["data.source.kind=file", f"data.source.path={path}", "data.source.tickers=null"], environ={}
    )
    store = ArtifactStore(tmp_path / "artifacts")
    cleaned = cleanse_stage(cfg.data.source, cfg.data.calendar, source_fingerprint(cfg.data.source), store=store)
    windows = windows_stage(cfg.data.window, cfg.data.split, cleaned, store=store)
    excluded = pd.read_parquet(windows.file("exclusions.parquet"))
    assert list(excluded["ticker"]) == ["TINY"] and "too short" in excluded["reason"].iloc[0]
    assert set(load_windows(windows).index["ticker"].astype(str)) == {"AAA", "BBB"}


# ------------------------------------------------------------------- configuration


def test_unknown_preset_and_misspelled_key():
    with pytest.raises(ConfigError, match="unknown preset 'cpuu'.*did you mean 'cpu'"):
        load_config("cpuu", environ={})
    with pytest.raises(ConfigError, match=r"data\.calender: unknown key; did you mean 'calendar'"):
        load_config("cpu", overrides=["data.calender.enabled=false"], environ={})


def test_unknown_market_is_a_clear_error(tmp_path):
    path = write(tmp_path, valid_rows())
    with pytest.raises(DataValidationError, match="unknown exchange calendar 'XMARS'"):
        cleanse(read_prices(path), CalendarConfig(default_market="XMARS"))
