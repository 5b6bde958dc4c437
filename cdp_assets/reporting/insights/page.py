"""HTML assembly. Every text that reaches the page goes through `html.escape`: section bodies
are built only with the helpers here, and the page inlines its style, so the file opens with no
network and can be mailed as it is."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from html import escape

from cdp_assets.reporting.insights.sections import Section

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#f6f7f9}
header{background:#234;color:#fff;padding:1.2rem 2rem}
header h1{margin:0 0 .3rem 0;font-size:1.5rem}
header p{margin:0;opacity:.85}
nav{padding:.6rem 2rem;background:#e9edf2;font-size:.9rem}
nav a{margin-right:1rem;color:#234}
main{max-width:1100px;margin:0 auto;padding:1rem 2rem 3rem}
section{background:#fff;border-radius:6px;padding:1rem 1.4rem;margin:1.2rem 0;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
section h2{margin-top:0;font-size:1.2rem}
section[data-status=missing]{background:#fbfbf3;color:#555}
p.says{font-size:1rem;margin:.2rem 0 .8rem 0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{padding:.3rem .7rem;border-bottom:1px solid #e3e3e3;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f0f2f5}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}
.card{border:1px solid #e3e3e3;border-radius:6px;padding:.7rem 1rem;min-width:9rem}
.card .label{font-size:.8rem;color:#666}
.card .value{font-size:1.4rem;font-weight:600}
.card .change{font-size:.85rem;color:#444}
img{max-width:100%;height:auto}
footer{color:#777;font-size:.8rem;padding:1rem 2rem}
"""


# A formatted figure (count, amount, share, change), right-aligned in a table.
FIGURE = re.compile(r"^(?:[+\-–]?[\d,.]+(?: ?%| pp| [A-Z]{3})?(?: \[.*\])?|–)$")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    kind = ' class="n"' if FIGURE.match(text) else ""
    return f"<td{kind}>{escape(text)}</td>"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], caption: str = "") -> str:
    """A table of already formatted values (None shows empty), every cell escaped; figures
    are right-aligned."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(source: str, alt: str) -> str:
    """An inline chart: `source` must be a PNG data URI (the report references no file)."""
    if not source.startswith("data:image/png;base64,"):
        raise ValueError(f"chart {alt!r}: only inline PNG data URIs are allowed in the report")
    return f'<img src="{escape(source)}" alt="{escape(alt)}">'


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def cards(items: Sequence[tuple[str, str, str]]) -> str:
    """Headline cards: (label, value, change against the previous period)."""
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="label">{escape(label)}</div>'
            f'<div class="value">{escape(value)}</div>'
            f'<div class="change">{escape(change)}</div></div>'
            for label, value, change in items
        )
        + "</div>"
    )


def section_html(section: Section) -> str:
    return (
        f'<section id="section-{escape(section.name)}" data-status="{escape(section.status)}">'
        f"<h2>{escape(section.title)}</h2>"
        f'<p class="says">{escape(section.sentence)}</p>{section.body}</section>'
    )


def report_page(
    title: str, as_of: dt.date, generated_at: dt.datetime, sections: Sequence[Section]
) -> str:
    """The whole page: a header with the analysis date, links to the sections, the sections."""
    links = "".join(f'<a href="#section-{escape(s.name)}">{escape(s.title)}</a>' for s in sections)
    stamp = generated_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} — {as_of.isoformat()}</title><style>{STYLE}</style></head>"
        f"<body><header><h1>{escape(title)}</h1>"
        f"<p>Figures as of the end of {as_of:%d %B %Y} (facts up to that day only).</p>"
        f"</header><nav>{links}</nav><main>"
        + "".join(section_html(s) for s in sections)
        + f"</main><footer>Generated {escape(stamp)} by cdp_assets. Customers appear under "
        "pseudonyms only: no name, email or phone number is in this file.</footer></body></html>\n"
    )
