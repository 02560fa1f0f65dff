"""Plotly figures for the reputation pages: pure functions from selector results to charts.

Same contract as ``apps/events/charts.py``: a :class:`Chart` holds a figure, or None and
the sentence the page shows instead; nothing is drawn from invented data.
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go

from apps.events.charts import Chart, _layout, _plotly_time

LISTED_COLOR = "#d64545"


def trend_chart(data: dict) -> Chart:
    """Listed (target, zone) pairs at the end of each day."""
    title = "Listings over time (end of each UTC day)"
    if not data.get("buckets") or not data.get("has_history"):
        return Chart("dnsbl-trend", title, None, empty="No checks recorded yet.")
    fig = go.Figure(go.Scatter(x=[_plotly_time(b) for b in data["buckets"]], y=data["listed"], mode="lines+markers",
                               name="listed", line={"shape": "hv", "color": LISTED_COLOR}))
    return Chart("dnsbl-trend", title, _layout(fig, height=260, yaxis_title="listings", showlegend=False,
                                               yaxis={"rangemode": "tozero", "dtick": 1 if max(data["listed"]) < 10
                                                      else None}))


def by_zone_chart(data: dict) -> Chart:
    """Current listings per zone, as horizontal bars."""
    title = "Listed now, by zone"
    if not data.get("zones"):
        return Chart("dnsbl-by-zone", title, None, empty="Nothing is listed on any zone.")
    fig = go.Figure(go.Bar(x=data["counts"], y=data["zones"], orientation="h", marker={"color": LISTED_COLOR}))
    height = 120 + 28 * len(data["zones"])
    return Chart("dnsbl-by-zone", title, _layout(fig, height=height, xaxis_title="listings",
                                                 yaxis={"autorange": "reversed"}))


def timeline_chart(data: dict) -> Chart:
    """One bar per listing interval, one row per zone (a still-open listing runs to now)."""
    title = "Listing timeline (UTC)"
    intervals = data.get("intervals") or []
    if not intervals:
        return Chart("dnsbl-timeline", title, None, empty="Never listed on any checked zone.")
    now: dt.datetime = data["now"]
    fig = go.Figure()
    for item in intervals:
        end = item["end"] or now
        fig.add_trace(go.Bar(
            base=[_plotly_time(item["start"].isoformat())], x=[(end - item["start"]).total_seconds() * 1000],
            y=[item["zone"]], orientation="h", name=item["code"], marker={"color": LISTED_COLOR},
            hovertext=f"{item['zone']} {item['code']}: {item['start']:%Y-%m-%d %H:%M} → "
                      f"{'now' if item['end'] is None else format(item['end'], '%Y-%m-%d %H:%M')}",
            hoverinfo="text", showlegend=False,
        ))
    zones = sorted({item["zone"] for item in intervals})
    return Chart("dnsbl-timeline", title, _layout(fig, height=120 + 30 * len(zones), xaxis={"type": "date"},
                                                  barmode="overlay"))
