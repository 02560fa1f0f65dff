"""Page-number pagination for every list API: bad ``page``/``page_size`` answer 400 naming the field."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self._check(request)
        return super().paginate_queryset(queryset, request, view)

    def _bounds(self) -> dict[str, tuple[int, int | None]]:
        return {self.page_query_param: (1, None), self.page_size_query_param: (1, self.max_page_size)}

    def _check(self, request) -> None:
        """DRF would answer 404 for ``page=0`` and quietly ignore ``page_size=abc``: say what is wrong."""
        errors = {}
        for name, (low, high) in self._bounds().items():
            raw = request.query_params.get(name, "").strip()
            if not raw or (name == self.page_query_param and raw in self.last_page_strings):
                continue
            if not (raw.isascii() and raw.isdigit()) or int(raw) < low or (high is not None and int(raw) > high):
                limits = f"{low}–{high}" if high is not None else f"≥ {low}"
                errors[name] = [f"{name}: expected an integer {limits}, got {raw[:40]!r}."]
        if errors:
            raise ValidationError(errors)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = self._bounds()
        for parameter in parameters:
            low, high = bounds.get(parameter["name"], (None, None))
            if low is not None:
                parameter["schema"]["minimum"] = low
            if high is not None:
                parameter["schema"]["maximum"] = high
        return parameters
