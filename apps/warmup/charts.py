"""Plotly figures for the warmup pages: pure functions from selector results to charts.
No sends, no figure: the page shows the sentence instead (``Chart.figure`` is None)."""

from __future__ import annotations

import plotly.graph_objects as go

from apps.events.charts import Chart

SENT, FAILED, TARGET = "#1f9d55", "#d64545", "#2f6fdb"
AXIS = {"gridcolor": "#e3e6ea", "linecolor": "#e3e6ea", "zeroline": False, "automargin": True}


def _layout(fig: go.Figure, **extra) -> go.Figure:
    fig.update_layout(
        template="none", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="white", xaxis=AXIS, yaxis=AXIS, height=300,
        margin={"l": 50, "r": 20, "t": 20, "b": 40}, legend={"orientation": "h", "y": -0.2},
        font={"family": "system-ui, sans-serif", "size": 12}, barmode="stack", **extra,
    )
    return fig


def _naive(iso: str) -> str:
    return iso.replace("T", " ")[:19]  # UTC text: plotly.js would otherwise shift by the browser's zone


def throughput_chart(series: list[dict]) -> Chart:
    """Sent and failed warmup messages per hour (``selectors.throughput_series``)."""
    title = "Warmup sends per hour (UTC)"
    if not any(row["sent"] or row["failed"] for row in series):
        return Chart("warmup-throughput", title, None, "No warmup sends in the last 24 hours.")
    x = [_naive(row["hour"]) for row in series]
    fig = go.Figure([
        go.Bar(x=x, y=[row["sent"] for row in series], name="sent", marker_color=SENT),
        go.Bar(x=x, y=[row["failed"] for row in series], name="failed", marker_color=FAILED),
    ])
    return Chart("warmup-throughput", title, _layout(fig, yaxis_title="messages", hovermode="x unified"))


def daily_chart(history: list[dict]) -> Chart:
    """One mailbox: sends per day against its quota (``selectors.mailbox_history``)."""
    title = "Daily sends vs quota (UTC)"
    if not any(row["sent"] or row["failed"] for row in history):
        return Chart("warmup-daily", title, None, "This mailbox has not sent warmup mail in the last 30 days.")
    x = [row["day"] for row in history]
    fig = go.Figure([
        go.Bar(x=x, y=[row["sent"] for row in history], name="sent", marker_color=SENT),
        go.Bar(x=x, y=[row["failed"] for row in history], name="failed", marker_color=FAILED),
        go.Scatter(x=x, y=[row["quota"] for row in history], name="quota", mode="lines",
                   line={"color": TARGET, "dash": "dash", "shape": "hv"}),
    ])
    return Chart("warmup-daily", title, _layout(fig, yaxis_title="messages", hovermode="x unified"))
