"""The analysis date of a run: run tag > CDP_AS_OF > cdp.yaml `as_of` > today."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import yaml

from cdp_assets.config import ConfigError, as_of_date, load_config
from cdp_assets.config.loader import AS_OF_TAG
from cdp_assets.defs.resources import analysis_date
from cdp_assets_tests.defs.test_analytics_config import CONFIG

TODAY = dt.date(2026, 12, 5)


def _config(tmp_path: Path, **settings: object):
    path = tmp_path / "cdp.yaml"
    path.write_text(yaml.safe_dump(CONFIG | settings), encoding="utf-8")
    return load_config(path)


def test_precedence_tag_then_environment_then_file_then_today(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    plain = _config(tmp_path)
    assert as_of_date(plain, today=TODAY) == TODAY
    in_file = _config(tmp_path, as_of="2026-09-30")
    assert as_of_date(in_file, today=TODAY) == dt.date(2026, 9, 30)
    monkeypatch.setenv("CDP_AS_OF", "2026-08-31")
    from_env = _config(tmp_path, as_of="2026-09-30")
    assert as_of_date(from_env, today=TODAY) == dt.date(2026, 8, 31)
    tagged = as_of_date(from_env, today=TODAY, run_tag="2026-06-30")
    assert tagged == dt.date(2026, 6, 30)


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("30/06/2026", "run tag cdp/as_of: '30/06/2026' is not a date (YYYY-MM-DD"),
        ("", "run tag cdp/as_of: '' is not a date"),
        ("2026-12-06", "run tag cdp/as_of: '2026-12-06' is after today (2026-12-05)"),
    ],
)
def test_a_bad_tag_is_named(tmp_path: Path, tag: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        as_of_date(_config(tmp_path), today=TODAY, run_tag=tag)


def _probe(config):
    @dg.asset
    def probe(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"as_of": str(analysis_date(context, config))})

    return probe


def test_assets_read_the_run_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_AS_OF", "2026-08-31")
    config = _config(tmp_path)
    for tags, expected in (({AS_OF_TAG: "2026-06-30"}, "2026-06-30"), ({}, "2026-08-31")):
        result = dg.materialize([_probe(config)], tags=tags)
        meta = result.asset_materializations_for_node("probe")[0].metadata
        assert meta["as_of"].value == expected


def test_a_bad_run_tag_fails_the_step_with_its_name(tmp_path: Path) -> None:
    result = dg.materialize(
        [_probe(_config(tmp_path))], tags={AS_OF_TAG: "last quarter"}, raise_on_error=False
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "run tag cdp/as_of: 'last quarter' is not a date" in failure.message
