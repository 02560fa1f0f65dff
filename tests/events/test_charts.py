"""charts.py: the right traces from selector-shaped data, and an empty state from empty data."""

from __future__ import annotations

import json

import pytest

from apps.events import charts


def figure_data(chart: charts.Chart) -> dict:
    """The figure exactly as the page embeds it (``Chart.json``), parsed back."""
    return json.loads(chart.json) if chart.figure is not None else {}


BUCKETS = ["2026-11-25T10:00:00+00:00", "2026-11-25T10:05:00+00:00", "2026-11-25T10:10:00Z"]


def test_throughput_stacks_outcomes_and_draws_queued_as_its_own_line():
    data = {"resolution": "5m", "buckets": BUCKETS,
            "series": {"queued": [5, 6, 7], "bounced": [0, 1, 0], "delivered": [4, 5, 6], "deferred": [1, 0, 1]}}
    chart = charts.throughput_chart(data)
    fig = figure_data(chart)
    assert chart.trace_names == ["delivered", "deferred", "bounced", "queued"]
    stacked = [t["name"] for t in fig["data"] if t.get("stackgroup")]
    assert stacked == ["delivered", "deferred", "bounced"]
    assert fig["data"][0]["y"] == [4, 5, 6]
    # offsets are turned into naive UTC so plotly.js plots the same instant
    assert fig["data"][0]["x"] == ["2026-11-25 10:00:00", "2026-11-25 10:05:00", "2026-11-25 10:10:00"]


@pytest.mark.parametrize("data", [
    {"resolution": "5m", "buckets": [], "series": {}},
    {"resolution": "5m", "buckets": BUCKETS, "series": {"delivered": [0, 0, 0]}},
])
def test_throughput_without_events_is_an_empty_state(data):
    chart = charts.throughput_chart(data)
    assert chart.figure is None
    assert chart.empty == "No events in this range."
    assert chart.json == ""


def test_node_lines_put_other_last():
    data = {"resolution": "1h", "buckets": BUCKETS,
            "series": {"other": [1, 1, 1], "mx2": [0, 2, 0], "mx1": [3, 0, 0]}}
    assert charts.node_lines_chart(data).trace_names == ["mx1", "mx2", "other"]
    assert charts.node_lines_chart({"buckets": BUCKETS, "series": {"mx1": [0, 0, 0]}}).figure is None


def test_percentiles_share_one_scale_in_seconds_and_colour_by_threshold():
    chart = charts.percentiles_chart({"avg": 15080.0, "p50": 900.0, "p95": 6720.0, "p99": 15000.0},
                                     green_ms=3000, yellow_ms=10000)
    fig = figure_data(chart)
    (bars,) = fig["data"]
    assert bars["y"] == ["median (p50)", "p95", "p99"] and bars["x"] == [0.9, 6.72, 15.0]
    assert bars["marker"]["color"] == ["#1f9d55", "#d69e2e", "#d64545"]
    (line,) = fig["layout"]["shapes"]
    assert line["x0"] == 15.08  # the average is a line on the same axis ...
    assert fig["layout"]["annotations"][0]["text"] == "average 15.08 s"  # ... labelled as such


def test_percentiles_respect_configured_thresholds():
    chart = charts.percentiles_chart({"p50": 1200.0}, green_ms=1000, yellow_ms=2000)
    assert figure_data(chart)["data"][0]["marker"]["color"] == ["#d69e2e"]


def test_percentiles_without_deliveries_are_empty_not_zero():
    nothing = {"avg": None, "p50": None, "p95": None, "p99": None}
    chart = charts.percentiles_chart(nothing, green_ms=3000, yellow_ms=10000)
    assert chart.figure is None and chart.empty == "No deliveries in this range."


def test_delivery_time_over_time_draws_three_percentile_lines_with_gaps():
    data = {"resolution": "5m", "buckets": BUCKETS,
            "series": {"p50": [1000.0, None, 500.0], "p95": [3000.0, None, 900.0], "p99": [9000.0, None, 1000.0]}}
    chart = charts.delivery_time_chart(data)
    assert chart.trace_names == ["median (p50)", "p95", "p99"]
    assert figure_data(chart)["data"][1]["y"] == [3.0, None, 0.9]
    empty = {"resolution": "5m", "buckets": BUCKETS, "series": {"p50": [None] * 3, "p95": [None] * 3,
                                                                "p99": [None] * 3}}
    assert charts.delivery_time_chart(empty).figure is None


def test_histogram_uses_bucket_labels():
    data = {"total": 7, "buckets": [{"le_ms": 1000, "label": "≤ 1 s", "count": 5},
                                    {"le_ms": None, "label": "> 1 s", "count": 2}]}
    trace = figure_data(charts.histogram_chart(data))["data"][0]
    assert trace["x"] == ["≤ 1 s", "> 1 s"] and trace["y"] == [5, 2]
    assert charts.histogram_chart({"total": 0, "buckets": data["buckets"]}).figure is None


def test_queue_chart_keeps_gaps_and_is_empty_without_reports():
    data = {"total_now": 12, "per_node_now": [],
            "series": {"buckets": BUCKETS, "per_node": {"mx2": [None, 3, 4], "mx1": [1, None, 8]}}}
    fig = figure_data(charts.queue_chart(data))
    assert [t["name"] for t in fig["data"]] == ["mx1", "mx2"]
    assert fig["data"][0]["y"] == [1, None, 8] and fig["data"][0]["connectgaps"] is False
    empty = {"total_now": None, "per_node_now": [], "series": {"buckets": BUCKETS, "per_node": {"mx1": [None] * 3}}}
    assert charts.queue_chart(empty).figure is None


def test_bounce_charts_from_analysis():
    data = {"total": 10,
            "by_category": [{"category": "invalid_recipient", "label": "Invalid recipient", "count": 7,
                             "percent": 70.0},
                            {"category": "spam_block", "label": "Spam / reputation block", "count": 3, "percent": 30.0},
                            {"category": "other", "label": "Other", "count": 0, "percent": 0.0}],
            "by_code": [{"status_code": 550, "enhanced_status": "5.1.1", "count": 7, "percent": 70.0},
                        {"status_code": None, "enhanced_status": "", "count": 3, "percent": 30.0}]}
    cat = figure_data(charts.bounce_category_chart(data))["data"][0]
    assert cat["y"] == ["Spam / reputation block", "Invalid recipient"] and cat["x"] == [3, 7]
    code = figure_data(charts.bounce_code_chart(data))["data"][0]
    assert code["x"] == ["550 5.1.1", "—"] and code["y"] == [7, 3]
    empty = {"total": 0, "by_category": [], "by_code": []}
    assert charts.bounce_category_chart(empty).figure is None
    assert charts.bounce_code_chart(empty).figure is None


def test_destinations_chart_stacks_outcomes_per_domain_in_table_order():
    rows = [{"domain": "gmail.com", "sent": 11, "delivered": 8, "bounced": 1, "deferred": 1, "rejected": 1},
            {"domain": "yahoo.com", "sent": 4, "delivered": 4, "bounced": 0, "deferred": 0, "rejected": 0}]
    chart = charts.destinations_chart({"count": 2, "page": 1, "page_size": 50, "results": rows})
    fig = figure_data(chart)
    assert chart.trace_names == ["delivered", "deferred", "bounced", "rejected"]
    assert fig["data"][3]["x"] == [0, 1]
    assert fig["data"][0]["y"] == ["yahoo.com", "gmail.com"] and fig["data"][0]["x"] == [4, 8]
    assert fig["layout"]["barmode"] == "stack"
    assert charts.destinations_chart({"count": 0, "page": 1, "page_size": 50, "results": []}).figure is None


def test_chart_json_cannot_close_its_script_tag():
    data = {"resolution": "5m", "buckets": BUCKETS[:1], "series": {"</script><b>": [1]}}
    chart = charts.throughput_chart(data)
    assert "</script>" not in chart.json
    assert json.loads(chart.json)["data"][0]["name"] == "</script><b>"
