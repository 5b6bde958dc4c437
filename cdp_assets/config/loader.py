"""Loading `cdp.yaml`: environment overrides, path resolution and readable errors."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ValidationError

from cdp_assets.config.project import CDPConfig
from cdp_assets.config.sqlite_urls import sqlite_database_file
from cdp_assets.config.warehouse import WarehouseConfig, unsupported_warehouse

ENV_CONFIG = "CDP_CONFIG"
ENV_AS_OF = "CDP_AS_OF"
ENV_WAREHOUSE_URL = "CDP_WAREHOUSE_URL"
AS_OF_TAG = "cdp/as_of"  # a run tag: the analysis date of that run only
DEFAULT_CONFIG = "cdp.yaml"
_NESTED_KEY = re.compile(r"^[A-Za-z_][\w.\[\]]*: ")


class ConfigError(ValueError):
    """A mistake in cdp.yaml (or its environment overrides), named by key path."""


def config_path() -> Path:
    return Path(os.environ.get(ENV_CONFIG, DEFAULT_CONFIG)).resolve()


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


@functools.cache
def _known_keys() -> frozenset[str]:
    """Every key a section of cdp.yaml may hold, for "did you mean" on an unknown one."""
    keys: set[str] = set()
    seen: set[type] = set()
    todo: list[Any] = [CDPConfig]
    while todo:
        kind = todo.pop()
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            if kind in seen:
                continue
            seen.add(kind)
            for name, info in kind.model_fields.items():
                keys.add(info.alias or name)
                todo.append(info.annotation)
        else:
            todo.extend(typing.get_args(kind))
    return frozenset(keys)


def format_validation_error(exc: ValidationError, file: Path) -> str:
    lines = []
    for err in exc.errors():
        loc = _key_path(tuple(p for p in err["loc"] if p not in ("function-after",)))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            key = err["loc"][-1] if err["loc"] else ""
            near = difflib.get_close_matches(str(key), sorted(_known_keys()), n=1, cutoff=0.8)
            hint = f", did you mean {near[0]!r}?" if near else ""
            msg = f"unknown key{hint} (check its spelling and indentation)"
        if _NESTED_KEY.match(msg):
            # a model validator named the key below `loc` (or from the top)
            lines.append(f"{loc}.{msg}" if loc else msg)
        else:
            lines.append(f"{loc or '(top level)'}: {msg}")
    return f"{file}: invalid configuration\n  " + "\n  ".join(lines)


def read_yaml(text: str, file: Path) -> Any:
    """The YAML document in `text`, refusing what PyYAML lets through silently or raises
    without a key: a key repeated in one mapping (PyYAML keeps the last one, so a second
    `columns:` would drop the first mapping) and a date that is not one (`2026-13-45` raised a
    bare `ValueError: month must be in 1..12`)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if root is None:
        return {}
    problems = list(_node_problems(root, ""))
    if problems:
        raise ConfigError(f"{file}: invalid configuration\n  " + "\n  ".join(problems))
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # not expected after the checks above
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None


def _node_problems(node: yaml.Node, path: str) -> Iterator[str]:
    if isinstance(node, yaml.MappingNode):
        first_line: dict[Any, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            line = key.start_mark.line + 1
            where = f"{path}.{name}" if path else str(name)
            if name is not None and name != "<<":
                if name in first_line:
                    yield (
                        f"{where}: key repeated (lines {first_line[name]} and {line}); "
                        "YAML would keep only the last one"
                    )
                else:
                    first_line[name] = line
            yield from _node_problems(value, where)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _node_problems(item, f"{path}[{i}]")
    elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
        try:
            yaml.SafeLoader("").construct_yaml_timestamp(node)
        except ValueError as exc:
            yield (
                f"{path or '(top level)'}: {node.value!r} is not a valid date (YYYY-MM-DD): "
                f"{exc} (line {node.start_mark.line + 1})"
            )


def parse_config(data: dict[str, Any], *, file: Path, base_dir: Path) -> CDPConfig:
    try:
        config = CDPConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, file)) from None
    config._base_dir = str(base_dir)
    return config


def load_config(path: str | os.PathLike[str] | None = None) -> CDPConfig:
    """Read and validate cdp.yaml; env vars CDP_AS_OF and CDP_WAREHOUSE_URL override it."""
    file = Path(path).resolve() if path is not None else config_path()
    if not file.exists():
        raise ConfigError(f"{file}: configuration file not found (set {ENV_CONFIG})")
    data = read_yaml(file.read_text(encoding="utf-8"), file)
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of keys")
    as_of = os.environ.get(ENV_AS_OF)
    if as_of:
        try:
            data["as_of"] = dt.date.fromisoformat(as_of)
        except ValueError:
            raise ConfigError(f"{ENV_AS_OF}: {as_of!r} is not a date (YYYY-MM-DD)") from None
    config = parse_config(data, file=file, base_dir=file.parent)
    url = os.environ.get(ENV_WAREHOUSE_URL)
    if url and (problem := unsupported_warehouse(url)):
        raise ConfigError(f"{ENV_WAREHOUSE_URL}: {problem}")
    if url:
        # Applied after validation: the environment is where a password belongs.
        override = config.model_copy(update={"warehouse": WarehouseConfig.model_construct(url=url)})
        override._base_dir = config._base_dir
        config = override
    return config


def resolve_path(config: CDPConfig, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (Path(config.base_dir) / p).resolve()


def landing_dir(config: CDPConfig) -> Path:
    return resolve_path(config, config.landing_dir)


def warehouse_url(config: CDPConfig) -> str:
    """The warehouse URL with a relative DuckDB file resolved against cdp.yaml's folder."""
    url = config.warehouse.url
    prefix = "duckdb:///"
    if url.startswith(prefix):
        target = url[len(prefix) :]
        if target and target != ":memory:" and not target.startswith("/"):
            return prefix + str(resolve_path(config, target))
    return url


def source_url(config: CDPConfig, source_name: str) -> str:
    """The SQLAlchemy URL of a sql source: from `url_env` or `url`, {landing_dir} expanded."""
    source = config.source(source_name)
    if source.url_env:
        value = os.environ.get(source.url_env)
        if not value:
            raise ConfigError(
                f"{source.key_path}.url_env: environment variable {source.url_env} is not set"
            )
        return value
    assert source.url is not None
    url = source.url.replace("{landing_dir}", str(landing_dir(config)))
    return _sqlite_file_against_config(config, url)


def _sqlite_file_against_config(config: CDPConfig, url: str) -> str:
    """A SQLite URL naming a relative file, resolved against cdp.yaml's folder like every
    relative path of the file (SQLAlchemy would take it from the process's working folder,
    which differs between `make`, the daemon and the webserver)."""
    database = sqlite_database_file(url)
    if database is None or Path(database).is_absolute():
        return url
    parsed = sa.engine.make_url(url)
    return parsed.set(database=str(resolve_path(config, database))).render_as_string(
        hide_password=False
    )


def as_of_date(
    config: CDPConfig, today: dt.date | None = None, run_tag: str | None = None
) -> dt.date:
    """The analysis date. First that is set wins: the run's `cdp/as_of` tag, the environment
    variable CDP_AS_OF, `as_of` in cdp.yaml (both already in `config.as_of`), today."""
    today = today or dt.date.today()
    if run_tag is not None:
        return parse_as_of_tag(run_tag, today)
    return config.as_of or today


def parse_as_of_tag(value: str, today: dt.date) -> dt.date:
    """A run's `cdp/as_of` tag as a date; a clear error for anything else. A date after today
    is refused: no fact of it exists yet, and a run as of it would look like a normal one."""
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"run tag {AS_OF_TAG}: {value!r} is not a date (YYYY-MM-DD, e.g. 2026-06-30)"
        ) from None
    if day > today:
        raise ConfigError(
            f"run tag {AS_OF_TAG}: {value!r} is after today ({today.isoformat()}); "
            "an analysis date must not lie in the future"
        )
    return day
