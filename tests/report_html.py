"""Reading the HTML report back as a person reads it: headline figures, tables by id, charts."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Table:
    caption: str = ""
    rows: list[list[str]] = field(default_factory=list)  # the header row first
    sections: tuple[str, ...] = ()  # ids of the sections it is in, outermost first

    @property
    def body(self) -> list[list[str]]:
        return self.rows[1:]

    def column(self, name: str) -> list[str]:
        index = self.rows[0].index(name)
        return [row[index] for row in self.body]


class ReportReader(HTMLParser):
    """Tables (by id, and in order), the headline's label -> value, section ids, and every tag seen."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, Table] = {}
        self.all_tables: list[Table] = []
        self.headline: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self._table: Table | None = None
        self._text: list[str] | None = None
        self._headline_dt = ""
        self._in = ""
        self._sections: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "section":
            self._sections.append(attributes.get("id", ""))
        if tag == "table":
            self._table = Table(sections=tuple(self._sections))
            self.all_tables.append(self._table)
            if attributes.get("id"):
                self.tables[attributes["id"]] = self._table
        elif tag == "tr" and self._table is not None:
            self._table.rows.append([])
        elif tag in ("td", "th", "caption", "dt", "dd"):
            self._text, self._in = [], tag
        elif tag == "small" and self._in == "dd":
            self._in = "dd-small"

    def handle_data(self, data: str) -> None:
        if self._text is not None and self._in != "dd-small":
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._sections:
            self._sections.pop()
        if tag == "small" and self._in == "dd-small":
            self._in = "dd"
            return
        if tag not in ("td", "th", "caption", "dt", "dd") or self._text is None:
            if tag == "table":
                self._table = None
            return
        text = " ".join("".join(self._text).split())
        self._text = None
        if tag == "caption" and self._table is not None:
            self._table.caption = text
        elif tag in ("td", "th") and self._table is not None:
            self._table.rows[-1].append(text)
        elif tag == "dt":
            self._headline_dt = text
        elif tag == "dd":
            self.headline[self._headline_dt] = text

    def in_section(self, section_id: str) -> list[Table]:
        """The tables inside the section with this id, in order."""
        return [t for t in self.all_tables if section_id in t.sections]


def number(text: str) -> int:
    return int(text.replace(",", ""))
