"""One list of blocks, two renderings: Markdown with PNG files beside it (readable on GitHub), and one
self-contained HTML file (figures embedded) to send to a colleague. Deterministic: the same blocks give
the same bytes."""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str  # may hold **bold** and `code`


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    floatfmt: str = "{:.3f}"


@dataclass(frozen=True)
class Image:
    path: Path  # a file in the report's folder
    alt: str


def _cells(table: Table) -> pd.DataFrame:
    def fmt(v):
        if isinstance(v, (bool,)):
            return "yes" if v else "no"
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return "–"
        return table.floatfmt.format(v) if isinstance(v, float) else str(v)
    return table.frame.astype(object).map(fmt)


def to_markdown(blocks: list) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text + "\n")
        elif isinstance(b, Text):
            out.append(b.text + "\n")
        elif isinstance(b, Table):
            if b.frame.empty:
                out.append("_none_\n")
                continue
            cells = _cells(b)
            head = "| " + " | ".join(map(str, cells.columns)) + " |\n|" + "---|" * len(cells.columns) + "\n"
            body = "".join("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |\n" for row in cells.itertuples(index=False))
            out.append(head + body)
        elif isinstance(b, Image):
            out.append(f"![{b.alt}]({b.path.name})\n")
    return "\n".join(out)


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.85em}"
         "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}th{background:#f3f3f3}"
         "img{max-width:100%;border:1px solid #eee}code{background:#f5f5f5;padding:0 3px}")


def to_html(blocks: list, title: str) -> str:
    out = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{STYLE}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Text):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            if b.frame.empty:
                out.append("<p><i>none</i></p>")
                continue
            cells = _cells(b)
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cells.columns)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                           for row in cells.itertuples(index=False))
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.path.read_bytes()).decode("ascii")
            mime = "image/jpeg" if b.path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
            out.append(f"<figure><img alt='{html.escape(b.alt)}' src='data:{mime};base64,{data}'>"
                       f"<figcaption>{html.escape(b.alt)}</figcaption></figure>")
    out.append("</body></html>\n")
    return "\n".join(out)
