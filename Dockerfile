# llmsight collector / evaluator image: one image, two commands (`serve`, `evaluate`).
# Build: docker build -t llmsight:0.1.0 .
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package needs (README* may not exist; the pyproject match keeps COPY valid).
COPY pyproject.toml README* ./
COPY llmsight ./llmsight
RUN pip install ".[all]" \
    && useradd --system --uid 10001 --home-dir /var/lib/llmsight --create-home llmsight \
    && install -d -o llmsight /var/lib/llmsight/spool /var/lib/llmsight/grafana-alerting  # volumes inherit the owner

USER llmsight
WORKDIR /var/lib/llmsight
# OTLP/gRPC, OTLP/HTTP (also /healthz and /metrics)
EXPOSE 4317 4318
ENV LLMSIGHT_HOST=0.0.0.0
CMD ["llmsight", "serve", "--host", "0.0.0.0"]
