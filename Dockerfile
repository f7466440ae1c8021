# Ironworx server image: built from source, run as an unprivileged user.
#   docker build -t ironworx .
#   docker run -p 8080:8080 -v ironworx-data:/var/lib/ironworx ironworx

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ironworx-server --bin ironworx

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/ironworx --shell /usr/sbin/nologin ironworx \
    && mkdir -p /var/lib/ironworx \
    && chown ironworx:ironworx /var/lib/ironworx
COPY --from=builder /src/target/release/ironworx /usr/local/bin/ironworx

ENV IRONWORX_BIND=0.0.0.0:8080 \
    IRONWORX_DATA_DIR=/var/lib/ironworx
VOLUME ["/var/lib/ironworx"]
WORKDIR /var/lib/ironworx
USER ironworx
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1

ENTRYPOINT ["ironworx"]
CMD ["serve"]
