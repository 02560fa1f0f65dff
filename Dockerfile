# mailmon image for compose.yaml: one image, each service runs its own command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MAILMON_VAR_DIR=/app/var

WORKDIR /app
RUN useradd --system --home /app --shell /usr/sbin/nologin mailmon

# Dependencies first (cached while only the code changes).
COPY pyproject.toml ./
RUN pip install --upgrade pip && pip install .

COPY . .
# Static files (plotly.min.js, htmx, Swagger UI) are built into the image and served by
# whitenoise: the portal needs no CDN. Placeholder servers: collectstatic connects to none.
RUN DATABASE_URL=postgresql://build@127.0.0.1/none REDIS_URL=redis://127.0.0.1:6379/0 SECRET_KEY=build-only \
    python manage.py collectstatic --no-input -v0 \
 && rm -f var/secret_key && chown -R mailmon /app/var

USER mailmon
EXPOSE 8000 8001
CMD ["python", "-m", "mailmon.daphne_server", "-b", "0.0.0.0", "-p", "8000", "mailmon.asgi:application"]
