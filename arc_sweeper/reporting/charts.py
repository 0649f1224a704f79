"""The report's charts, drawn by pygal as inline SVG (nothing here draws a shape by hand).

pygal renders a chart to an SVG element tree. Two changes make it fit a page that must
work offline and run no script: the small configuration script pygal adds for its
optional tooltips is dropped, and the SVG is marked as an image described by the table
that holds its numbers (every chart in the report has one).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle
from typing import Any

import pygal
from markupsafe import Markup
from pygal.etree import etree
from pygal.style import Style

from arc_sweeper.vocabulary import Finding, Outcome

COLOURS: dict[str, str] = {
    "supported": "#2e7d32",
    Finding.OUT_OF_SUPPORT: "#e65100",
    Finding.TOO_OLD_FOR_AUTO_UPGRADE: "#b71c1c",
    Finding.UNKNOWN_VERSION: "#757575",
    Outcome.UPGRADED: "#2e7d32",
    Outcome.UP_TO_DATE: "#81c784",
    Outcome.PENDING: "#1565c0",
    Outcome.UPGRADE_FAILED: "#e65100",
    Outcome.STUCK: "#b71c1c",
    Outcome.DISCONNECTED: "#9e9e9e",
    Outcome.GONE: "#424242",
}
"""Series colours by name; names without one (added later) take the next of OTHER_COLOURS."""
OTHER_COLOURS = ("#6a1b9a", "#00838f", "#827717", "#ad1457", "#4e342e", "#283593")

Series = Sequence[tuple[str, str, Sequence[float | None]]]
"""(name, label, values): name picks the colour, label is what the legend shows."""


_LAYOUT: dict[str, Any] = dict(
    width=1000,
    height=380,
    js=[],
    disable_xml_declaration=True,
    legend_at_bottom=True,
    truncate_legend=-1,
    truncate_label=-1,
)
"""Shared by every chart: the size the page shows it at, no script, the whole legend."""


def _style(colours: Sequence[str]) -> Style:
    return Style(
        colors=tuple(colours),
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#212121",
        foreground_strong="#000000",
        foreground_subtle="#616161",
        opacity="1",
        opacity_hover="0.85",
        font_family="system-ui, 'Segoe UI', Roboto, 'Liberation Sans', sans-serif",
        title_font_size=18,
        legend_font_size=14,
        label_font_size=13,
        major_label_font_size=13,
        value_font_size=12,
        tooltip_font_size=13,
    )


def _colours(names: Sequence[str]) -> list[str]:
    spare = cycle(OTHER_COLOURS)
    return [COLOURS.get(name) or next(spare) for name in names]


def bar_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    series: Series,
    described_by: str,
    stacked: bool = False,
    horizontal: bool = False,
    y_title: str = "machines",
) -> Markup:
    """A (stacked) bar chart with one bar per x label and one colour per series."""
    kind: Any = {
        (False, False): pygal.Bar,
        (True, False): pygal.StackedBar,
        (False, True): pygal.HorizontalBar,
        (True, True): pygal.HorizontalStackedBar,
    }[(stacked, horizontal)]
    crowded = not horizontal and len(x_labels) > 30  # label every other release
    short_legend = all(len(label) < 20 for _, label, _ in series)
    chart = kind(
        style=_style(_colours([name for name, _, _ in series])),
        **_LAYOUT,
        legend_at_bottom_columns=min(len(series), 4 if short_legend else 2),
        show_legend=len(series) > 1,
        x_label_rotation=0 if horizontal or len(x_labels) <= 12 else 45,
        y_title=None if horizontal else y_title,
        x_labels_major_every=2 if crowded else None,
        show_minor_x_labels=not crowded,
        print_zeroes=False,
        min_scale=4,
        max_scale=10,
    )
    return _svg(chart, title, x_labels, series, described_by)


def line_chart(
    *, title: str, x_labels: Sequence[str], series: Series, described_by: str, y_title: str, percent: bool = False
) -> Markup:
    """Lines over runs; `percent` puts the y axis at 0-100 %."""
    chart = pygal.Line(
        style=_style(_colours([name for name, _, _ in series])),
        **_LAYOUT,
        y_title=y_title,
        dots_size=4,
        x_label_rotation=0 if len(x_labels) <= 12 else 45,
        show_legend=len(series) > 1,
        range=(0, 100) if percent else None,
        include_x_axis=True,
        value_formatter=(lambda v: f"{v:.0f}%") if percent else (lambda v: f"{v:.0f}"),
    )
    return _svg(chart, title, x_labels, series, described_by)


def _svg(chart: Any, title: str, x_labels: Sequence[str], series: Series, described_by: str) -> Markup:
    chart.title = title
    chart.x_labels = list(x_labels)
    for _, label, values in series:
        chart.add(label, list(values))
    root = chart.render_tree()
    for parent in root.iter():
        for child in list(parent):
            if child.tag == "script":
                parent.remove(child)
    root.set("role", "img")
    root.set("aria-label", title)
    root.set("aria-describedby", described_by)
    return Markup(etree.tostring(root, encoding="unicode"))
