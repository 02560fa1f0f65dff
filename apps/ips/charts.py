"""Plotly figures for the sending-IP pages (pure: selector results in, a Chart out).

Same contract as ``apps/events/charts.py``: nothing is drawn from invented data.
"""

from __future__ import annotations

import plotly.graph_objects as go

from apps.events.charts import TYPE_COLORS, Chart, _layout


def warmup_chart(*, limits: list[int], sent_by_day: dict[int, int], current_day: int | None) -> Chart:
    """The schedule's limit per sending day, with what the IP actually sent on each day it has passed."""
    title = "Warmup: schedule and actual sends per sending day"
    if not limits:
        return Chart("warmup-curve", title, None, empty="This schedule has no days.")
    days = list(range(1, len(limits) + 1))
    fig = go.Figure(go.Scatter(x=days, y=limits, name="daily limit", mode="lines", line={"shape": "hv"}))
    if sent_by_day:
        shown = sorted(sent_by_day)
        fig.add_trace(go.Bar(x=shown, y=[sent_by_day[d] for d in shown], name="sent",
                             marker={"color": TYPE_COLORS["delivered"]}))  # fmt: skip
    if current_day:
        fig.add_vline(x=current_day, line={"dash": "dot", "color": "#888"})
    return Chart("warmup-curve", title, _layout(fig, xaxis_title="sending day", yaxis_title="messages / day"))
