# syntax=docker/dockerfile:1
#
# The Muster server image. The package (code, migrations and the pages'
# static files, see setup.py) is built into wheels and installed when the
# image is built: a container starts `muster serve` and installs nothing.
#
#   docker build -t muster .
#   docker run -e MUSTER_DATABASE_URL=postgresql+asyncpg://… -p 8000:8000 muster
#
# docker-compose.yml builds it and runs two of it behind Caddy (TLS).

# Pinned to a patch release of Python and of Debian (bookworm). To pin the
# exact bytes too, append the digest that `docker buildx imagetools inspect
# python:3.11.11-slim-bookworm` prints (FROM python:3.11.11-slim-bookworm@sha256:…).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY server ./server
COPY checkin ./checkin
COPY realtime ./realtime
COPY pwa ./pwa
# Muster and every dependency as wheels: the runtime stage installs from
# these alone, with no index and no compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MUSTER_HOST=0.0.0.0 \
    MUSTER_PORT=8000 \
    MUSTER_DATA_DIR=/var/lib/muster
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels muster \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/muster --create-home muster
# A user without rights, owning only its data directory (the SQLite file when
# no MUSTER_DATABASE_URL is given; mount a volume there to keep it).
USER muster
WORKDIR /var/lib/muster
EXPOSE 8000
# /readyz answers 200 only while the database is reachable.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=5 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('MUSTER_PORT', '8000'), timeout=2)"]
CMD ["muster", "serve"]
