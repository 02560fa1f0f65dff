"""Fleet pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import render

from . import selectors
from .choices import NodeRole, NodeStatus


@login_required
@permission_required("nodes.view_node", raise_exception=True)
def overview(request):
    role = request.GET.get("role") or None
    status = request.GET.get("status") or None
    search = request.GET.get("q") or None
    nodes = selectors.node_list(role=role, status=status, search=search)
    page = Paginator(nodes, 100).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "summary": selectors.fleet_summary(),
        "roles": NodeRole.choices,
        "statuses": NodeStatus.choices,
        "filters": {"role": role or "", "status": status or "", "q": search or ""},
    }
    template = "nodes/partials/_node_rows.html" if request.htmx else "nodes/overview.html"
    return render(request, template, context)
