# mobivate-hooks container image.
#
#   docker build -t mobivate-hooks .
#   docker run -p 8000:8000 -v mh-data:/app/data mobivate-hooks
#
# Based on Debian bookworm with Python 3.11 from Debian's own packages, so the base can be swapped
# for a locally imported one (--build-arg BASE_IMAGE=localhost/debian:bookworm). Where HTTPS is
# intercepted, give pip the CA bundle as a build secret; it is only mounted for the pip steps and
# never stored in a layer (without it the build works as usual):
#   --secret id=pipcert,src=/etc/ssl/certs/ca-certificates.crt
# With podman/buildah add --format docker, otherwise HEALTHCHECK is dropped (not part of OCI).
ARG BASE_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS python

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && apt-get clean && rm -rf /var/lib/apt/lists/*

# ---------------------------------------------------------------------------------------------
FROM python AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, in their own layer: exactly the versions and hashes of the lock file, the
# same CI tested (scripts/lock refreshes it), with the build backend for the step below.
COPY requirements.lock /tmp/requirements.lock
RUN --mount=type=secret,id=pipcert,required=false \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && pip install --require-hashes -r /tmp/requirements.lock

# Then the package itself: no resolution and no download, everything it needs is installed above.
COPY . ./
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && pip uninstall -y -q pip setuptools

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# Only the interpreter: no python3-venv, pip, compilers or headers in the runtime image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app/data /app/spool \
    && chown app:app /app/data /app/spool

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Alembic is run from the working directory at runtime (`migrate`, and `serve` on start).
COPY alembic.ini ./
COPY migrations ./migrations

# /app/data (SQLite default) and /app/spool are meant to be mounted as volumes; they are not
# declared with VOLUME so that one-shot runs (migrate, webhook-urls) leave no anonymous volumes.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_FORMAT=json \
    DATABASE_URL=sqlite+aiosqlite:////app/data/mobivate-hooks.db \
    SPOOL_DIR=/app/spool

USER app:app
EXPOSE 8000

# /healthz does no I/O. HEALTHCHECK_URL is for runs that listen elsewhere (e.g. --network=host).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('HEALTHCHECK_URL', 'http://127.0.0.1:8000/healthz'), timeout=4)"]

# uvicorn stops accepting, drains in-flight requests and exits on SIGTERM.
STOPSIGNAL SIGTERM
CMD ["mobivate-hooks", "serve", "--host", "0.0.0.0", "--port", "8000"]
