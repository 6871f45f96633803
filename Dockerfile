# syntax=docker/dockerfile:1
#
# Akin in a container. The build stage installs the torch 2.13.0 wheel (tch 0.26 links its
# libtorch, exactly as scripts/setup.sh does on a development machine) and builds the release
# binary; the runtime stage carries the binary, that torch install and Fashion-MNIST.
# docker-compose.yml builds and runs it.
#
# The default wheel includes the CUDA libraries (several GB) and still runs on CPU. For a smaller,
# CPU-only image, point pip at a CPU wheel index with a PIP_INDEX_URL line in the build stage.

ARG TORCH_VERSION=2.13.0
ARG TORCH_VENV=/opt/torch-venv

FROM rust:1-bookworm AS build
ARG TORCH_VERSION
ARG TORCH_VENV

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv "$TORCH_VENV" \
    && "$TORCH_VENV/bin/pip" install --no-cache-dir --disable-pip-version-check \
        "torch==$TORCH_VERSION"

WORKDIR /src
COPY . .
# .cargo/config.toml points LIBTORCH at .libtorch; build/rpath.rs then records the absolute
# library directory as the binary's rpath, so the runtime stage keeps the venv at the same path.
RUN ln -sfn "$("$TORCH_VENV/bin/python" -W ignore -c \
        'import os, torch; print(os.path.dirname(torch.__file__))')" .libtorch
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p akin \
    && install -m 0755 target/release/akin /usr/local/bin/akin

FROM debian:bookworm-slim AS runtime
ARG TORCH_VENV

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin akin \
    && mkdir -p /data \
    && chown akin:akin /data

COPY --from=build ${TORCH_VENV} ${TORCH_VENV}
COPY --from=build /usr/local/bin/akin /usr/local/bin/akin
WORKDIR /app
COPY static ./static

ENV AKIN_BIND=0.0.0.0:8080 \
    AKIN_DATA_DIR=/data \
    RUST_LOG=info \
    OMP_WAIT_POLICY=PASSIVE
USER akin
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]

ENTRYPOINT ["akin"]
CMD ["serve"]
