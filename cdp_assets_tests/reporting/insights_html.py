"""Reading the insights report back with Python's html.parser, for the tests."""

from __future__ import annotations

from html.parser import HTMLParser

RESOURCE_ATTRIBUTES = frozenset({"src", "href", "srcset", "action", "data", "poster"})


class _ReportParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.references: list[tuple[str, str, str]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section":
            self.sections[str(values.get("id", ""))] = str(values.get("data-status", ""))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        for name, value in attrs:
            if name in RESOURCE_ATTRIBUTES and value is not None:
                self.references.append((tag, name, value))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        self.texts.append(data)


def parse(html: str) -> _ReportParser:
    parser = _ReportParser()
    parser.feed(html)
    parser.close()
    return parser


def section_statuses(html: str) -> dict[str, str]:
    """{section name: data-status} in page order (ids are `section-<name>`)."""
    return {
        key.removeprefix("section-"): status
        for key, status in parse(html).sections.items()
        if key.startswith("section-")
    }


def external_references(html: str) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) of every src/href-like attribute that is not an inline data URI
    or an anchor within the page, plus any `url(` or `@import` in the page's style."""
    parser = parse(html)
    found = [
        ref
        for ref in parser.references
        if not (ref[2].startswith("#") or ref[2].startswith("data:image/png;base64,"))
    ]
    lowered = html.lower()
    for marker in ("url(", "@import", "http://", "https://"):
        if marker in lowered:
            found.append(("page", "text", marker))
    return found


# The report's sections in page order (their `section-<name>` ids).
REPORT_SECTIONS = (
    "headline",
    "rfm",
    "cohorts",
    "acquisition",
    "ltv",
    "churn",
    "surveys",
    "support",
    "campaigns",
    "forecast",
)
