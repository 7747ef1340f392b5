# Rook: rook-server and rook-cli on a distroless base, non-root (uid 65532).
#
#   docker build -t rook --build-arg ROOK_GIT_COMMIT=$(git rev-parse --short=12 HEAD) .
#   docker run -p 4141:4141 -e ROOK_TOKEN=… -e ROOK_ADMIN_TOKEN=… \
#     -v rook-data:/data -v ./rook.toml:/etc/rook/config.toml:ro rook
#
# See docs/install.md. A test (bins/rook-server/tests/deploy.rs) checks every path,
# port, user and variable used here against the binary and the docs.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# build.rs reads the commit from git; the build context has no .git.
ARG ROOK_GIT_COMMIT=unknown
ENV ROOK_GIT_COMMIT=${ROOK_GIT_COMMIT}
RUN cargo build --release --locked -p rook-server -p rook-cli \
 && mkdir -p /out/data \
 && cp target/release/rook-server target/release/rook-cli /out/

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/rook-server /out/rook-cli /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /data
COPY deploy/container.toml /etc/rook/config.toml
USER 65532:65532
WORKDIR /data
ENV ROOK_CONFIG=/etc/rook/config.toml
VOLUME ["/data"]
EXPOSE 4141
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/rook-server", "--health-check"]
ENTRYPOINT ["/usr/local/bin/rook-server"]
