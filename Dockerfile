# The asr-autoupdate operator image: the operator distribution and its hash-pinned runtime dependencies in a
# virtual environment, on python:3.11-slim, running as 65532:65532. The sandbox distribution (test and demo
# emulators) is never copied in. Build from the repository root:
#
#   docker build -t asr-autoupdate-operator:0.1.0 .
#
# For releases pin the base image by digest, e.g.
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest> ...
# The chart passes the scope and other flags as arguments of `asr-autoupdate run`.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

# The build backend pinned by pyproject.toml ([build-system] setuptools==80.9.0), checked by hash like every
# other download: it builds the operator's wheel in this stage and never reaches the runtime image.
ARG BUILD_BACKEND="setuptools==80.9.0 --hash=sha256:062d34222ad13e0cc312a4c02d73f059e86a4acbfbdea8f8f76b28c99f306922 --hash=sha256:f36b47402ecde768dbfafc46e8e4207b4360c654f1f3bb84475f0a28628fb19c"

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build

# Dependencies first, so this layer is reused until requirements.lock changes. Wheels only: nothing is
# compiled, and every file is checked against its hash. The venv gets no pip of its own (--without-pip):
# the builder's pip installs into it.
COPY requirements.lock ./
RUN python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-cache-dir --require-hashes --only-binary=:all: \
        -r requirements.lock

# The operator itself: a wheel built with the pinned backend, installed without dependencies (they are all
# in the lock above). Only the operator's source is copied; .dockerignore keeps everything else out.
COPY pyproject.toml README.md ./
COPY operator/ ./operator/
RUN printf '%s\n' "${BUILD_BACKEND}" > /tmp/build-backend.txt \
    && pip install --no-cache-dir --require-hashes -r /tmp/build-backend.txt \
    && pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-deps --no-index /tmp/wheels/*.whl \
    && /opt/venv/bin/asr-autoupdate version


FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="asr-autoupdate-operator" \
      org.opencontainers.image.description="Kubernetes operator that keeps Azure Site Recovery's Mobility Service extension updated" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp

COPY --from=builder /opt/venv /opt/venv

WORKDIR /tmp
USER 65532:65532

# 8080: kopf's liveness endpoint (/healthz); 8000: Prometheus metrics (/metrics).
EXPOSE 8080 8000

ENTRYPOINT ["asr-autoupdate"]
CMD ["run", "--all-namespaces"]
