# syntax=docker/dockerfile:1
# preconf-node: `docker build -t preconf-node .` then `docker run -p 8545:8545 preconf-node`
# (the zero-configuration devnet, bound to 0.0.0.0, its chain in the /data volume).

# Build stage: the official Rust image at the workspace's rust-version (Cargo.toml).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies in their own layer: the manifests and the lock file over empty sources (every
# target the manifests name; the test targets stay empty), so a change to the sources does not
# rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY core/Cargo.toml core/
COPY actors/Cargo.toml actors/
RUN mkdir -p src core/src core/examples actors/src tests/it \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > core/examples/bench.rs \
    && touch core/src/lib.rs actors/src/lib.rs tests/it/main.rs tests/load.rs tests/tools.rs \
    && cargo build --release --locked --bin preconf-node \
    && rm -rf src core/src core/examples actors/src
COPY src src
COPY core core
COPY actors actors
# The sources are newer than the stubs' build: touch them so cargo rebuilds the three crates.
RUN touch src/main.rs core/src/lib.rs actors/src/lib.rs \
    && cargo build --release --locked --bin preconf-node

# Runtime stage: Debian slim with the binary; it links only glibc (libc, libm, libgcc_s).
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin preconf \
    && mkdir -p /data && chown preconf:preconf /data && chmod 0700 /data
COPY --from=build /src/target/release/preconf-node /usr/local/bin/preconf-node
USER preconf
WORKDIR /data
VOLUME /data
# Every server on all interfaces (the banner prints the bound addresses), the chain in /data.
ENV PRECONF_DATADIR=/data \
    PRECONF_HTTP_ADDR=0.0.0.0 \
    PRECONF_AUTHRPC_ADDR=0.0.0.0 \
    PRECONF_METRICS_ADDR=0.0.0.0 \
    PRECONF_FLASHBLOCKS_ADDR=0.0.0.0 \
    PRECONF_PRECONF_API_ADDR=0.0.0.0
# JSON-RPC + WebSocket, Engine API, flashblock stream, payload server, metrics and /healthz.
EXPOSE 8545 8551 8548 9090 9001
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["preconf-node", "healthcheck", "http://127.0.0.1:9001/healthz"]
ENTRYPOINT ["preconf-node"]
CMD ["devnet"]
