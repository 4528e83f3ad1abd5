# toolkit itself, as an image: what `toolkit deploy k8s` runs in the cluster as the
# autoscaler (default image name toolkit:<version>, see docs/targets/kubernetes.md).
# Build: docker build -t toolkit:$(python3 -c 'import toolkit; print(toolkit.__version__)') .
ARG BASE_IMAGE=python:3.12-slim

# Build stage: toolkit and its runtime dependencies go into a virtualenv copied as a whole.
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md /src/
COPY toolkit/ /src/toolkit/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir /src \
    && /opt/venv/bin/pip uninstall --yes pip

# Runtime stage: the base image and the virtualenv; nothing else.
FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt/venv /opt/venv
# Numeric and not root, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# The controller's /metrics and /healthz (toolkit autoscale --listen 0.0.0.0:9108 in a pod).
EXPOSE 9108
ENTRYPOINT ["toolkit"]
CMD ["--help"]
