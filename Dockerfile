# nas worker / coordinator image. CPU-only torch; runs as a non-root user.
#   docker build -t nas:0.1.0 .                      (python slim base)
#   docker build --build-arg BASE=my-registry/python:3.11-slim -t nas:0.1.0 .
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE} AS runtime

# Where the CPU build of torch comes from; point it at a local wheelhouse offline.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NAS_THREADS=5 \
    OMP_NUM_THREADS=5 \
    MKL_NUM_THREADS=5 \
    NUMBA_NUM_THREADS=5 \
    OPENBLAS_NUM_THREADS=1 \
    NAS_HOME=/home/nas/.nas \
    NAS_HEALTH_FILE=/tmp/nas-worker.alive

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin nas

WORKDIR /opt/nas
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
COPY pyproject.toml README.md ./
COPY nas ./nas
RUN pip install --no-cache-dir . && nas --version \
    && install -d -o 10001 -g 10001 -m 0755 /opt/nas/kernel-cache

USER 10001
WORKDIR /home/nas
# Compile the CPU episode kernels at build time: a worker copies this cache into its own
# writable one (a read-only root included) instead of compiling for ~80 s. Run from
# /home/nas, not /opt/nas: there `python -m` would import the source copy, whose kernels
# are filed under another path than the installed package's.
RUN NAS_KERNEL_CACHE=/opt/nas/kernel-cache python -m nas.evolution.kernels
ENV NAS_KERNEL_CACHE_IMAGE=/opt/nas/kernel-cache
# Healthy while the worker's heartbeat reaches the database (two missed grace periods
# of the default 10 s heartbeat interval make it unhealthy).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["nas", "health", "--max-age", "60"]
ENTRYPOINT ["nas"]
CMD ["worker", "--serve"]

FROM runtime AS dashboard
USER 0
RUN pip install --no-cache-dir "optuna-dashboard==0.21.0"
USER 10001
ENTRYPOINT ["optuna-dashboard"]
