"""A report section: rendered (a chart or table with one sentence saying what it shows) or
missing (one sentence saying which input does not exist yet)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["rendered", "missing"]
Figure = float | int | str


@dataclass(frozen=True)
class Section:
    """`name` is the stable id (`section-<name>` in the HTML); `body` is HTML built only by the
    escaping helpers of `cdp_assets.reporting.insights.page`; `figures` are the key numbers
    the asset also puts in its metadata."""

    name: str
    title: str
    status: Status
    sentence: str
    body: str = ""
    figures: dict[str, Figure] = field(default_factory=dict)


def missing(name: str, title: str, why: str) -> Section:
    """A section whose input does not exist: `why` says which, in a plain sentence."""
    return Section(name, title, "missing", why)
