"""The `sources` section of `cdp.yaml`: one entry per source, how to read and map it."""

from __future__ import annotations

import codecs
import datetime as dt
import re
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from cdp_assets.config.base import (
    StrictModel,
    check_country,
    check_timezone,
    is_name,
    no_password,
)
from cdp_assets.contracts.canonical import RETENTION_FIELD, SourceKind, field_names
from cdp_assets.quality.parsing import EPOCH_FORMATS

SourceFormat = Literal["csv", "jsonl", "parquet", "sql"]
# How `delimiter` may name a tab in cdp.yaml besides the character itself.
DELIMITER_ALIASES = {"\\t": "\t", "tab": "\t", "TAB": "\t"}


class SourceConfig(StrictModel):
    """One configured source: where it is, how to read it, how its columns map."""

    name: str
    kind: SourceKind
    format: SourceFormat
    path: str | None = Field(None, description="glob under the landing folder (file formats)")
    url: str | None = Field(None, description="SQLAlchemy URL (sql); {landing_dir} is expanded")
    url_env: str | None = Field(None, description="environment variable holding the URL (sql)")
    table: str | None = None
    query: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    date_formats: dict[str, str] = Field(default_factory=dict)
    timezone: str | None = None
    default_country: str | None = None
    trust: int = Field(1, ge=0, le=100)
    encoding: str | None = Field(None, description="file encoding; detected when absent")
    delimiter: str | None = Field(None, description="CSV delimiter; detected when absent")
    quotechar: str = '"'
    customer_ref_source: str | None = Field(
        None, description="name of the customers source whose ids customer_ref holds"
    )
    quarantine_warn_share: float | None = Field(None, ge=0, le=1)
    quarantine_fail_share: float | None = Field(None, ge=0, le=1)
    retention_days: int | None = Field(
        None,
        ge=1,
        description="raw and staged rows whose event time is older than this many days are "
        "deleted nightly (kinds: " + ", ".join(sorted(RETENTION_FIELD)) + ")",
    )

    _index: int = PrivateAttr(default=-1)

    @property
    def key_path(self) -> str:
        """Where this source stands in cdp.yaml, for error messages: `sources[3]`."""
        return f"sources[{self._index}]" if self._index >= 0 else f"source {self.name!r}"

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, name: str) -> str:
        if not is_name(name):
            raise ValueError(
                f"{name!r} is not a valid source name (lower-case letters, digits and _, "
                "starting with a letter)"
            )
        return name

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return check_timezone(value)

    @field_validator("url")
    @classmethod
    def _url_without_password(cls, url: str | None) -> str | None:
        return no_password(url, "`url_env` (the name of an environment variable) instead")

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not an environment variable name")
        return name

    @field_validator("delimiter")
    @classmethod
    def _one_delimiter(cls, value: str | None) -> str | None:
        """Checked here, when the code location loads, rather than at the first file read."""
        if value is None:
            return value
        char = DELIMITER_ALIASES.get(value, value)
        if len(char) != 1 or not char.isascii() or char in "\r\n":
            raise ValueError(f"{value!r} must be one ASCII character (use '\\t' for tab)")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        """Checked when the code location loads, rather than at the first file read."""
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(
                    f"unknown encoding {value!r} (e.g. utf-8, cp1252, latin-1, utf-16)"
                ) from None
        return value

    @field_validator("quotechar")
    @classmethod
    def _one_quotechar(cls, value: str) -> str:
        if len(value) != 1 or not value.isascii() or value in "\r\n":
            raise ValueError(f"{value!r} must be one ASCII character")
        return value

    @field_validator("date_formats")
    @classmethod
    def _formats_parse(cls, formats: dict[str, str]) -> dict[str, str]:
        """A format strptime cannot use failed staging with a bare `ValueError: 'Q' is a bad
        directive`; one with no directive at all ('dd/mm/yyyy') matched no value, so every
        date of the field was nulled as invalid."""
        for field, fmt in formats.items():
            if not isinstance(fmt, str) or fmt.lower() in EPOCH_FORMATS:
                continue
            if "%" not in fmt:
                raise ValueError(
                    f"{field}: {fmt!r} has no strftime directive (write e.g. "
                    f"'%d/%m/%Y', or one of: {', '.join(EPOCH_FORMATS)})"
                )
            try:
                dt.datetime.strptime("", fmt)
            except ValueError as exc:
                if "does not match format" not in str(exc):
                    raise ValueError(f"{field}: {exc}") from None
        return formats

    @field_validator("default_country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else check_country(value)

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        canonical = set(field_names(self.kind))
        for section in ("columns", "defaults", "date_formats"):
            for key in getattr(self, section):
                if key not in canonical:
                    raise ValueError(
                        f"{section}.{key}: {key!r} is not a canonical field of kind "
                        f"{self.kind!r} (expected one of: {', '.join(sorted(canonical))})"
                    )
        if self.format == "sql":
            if not (self.url or self.url_env):
                raise ValueError("a sql source needs `url` or `url_env`")
            if bool(self.table) == bool(self.query):
                raise ValueError("a sql source needs exactly one of `table` or `query`")
        else:
            if not self.path:
                raise ValueError(f"a {self.format} source needs `path` (a glob under landing_dir)")
            if self.url or self.url_env or self.table or self.query:
                raise ValueError("url/url_env/table/query only apply to format: sql")
        if (
            self.quarantine_warn_share is not None
            and self.quarantine_fail_share is not None
            and self.quarantine_warn_share > self.quarantine_fail_share
        ):
            raise ValueError("quarantine_warn_share must not exceed quarantine_fail_share")
        if self.retention_days is not None and self.kind not in RETENTION_FIELD:
            raise ValueError(
                f"retention_days: sources of kind {self.kind!r} are kept while configured "
                f"(retention applies to kinds: {', '.join(sorted(RETENTION_FIELD))})"
            )
        return self

    def source_column(self, field: str) -> str | None:
        return self.columns.get(field)
