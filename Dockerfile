# The zentra service as a container image: the release binary alone on
# distroless, run as a non-root user. See the README's "Container".
#
#   docker build -t zentra .
#   docker run --rm -p 8000:8000 -v zentra-data:/data \
#     -e AUTH__SECRET_ACCESS_KEY=… -e AUTH__SECRET_REFRESH_KEY=… zentra
#
# .ci/run runs this build stage's cargo command as plain shell (no container
# engine runs on the development machine) and checks the binary with ldd.

# --- build: a Rust toolchain and a C toolchain, nothing else ---------------
# SQLite, libpq and OpenSSL are compiled from source into the binary
# (Cargo.toml: `bundled` / `vendored`), so no -dev package is needed: the
# slim image has gcc and libc6-dev, and OpenSSL's build adds make and perl.
# The toolchain is the one the workspace is tested with.
FROM rust:1.95-slim-bookworm AS build
# Unpinned on purpose: a pinned Debian version vanishes at the next point
# release and breaks the build (hadolint DL3008).
# /data: the runtime stage's SQLite folder, made here (distroless has no
# mkdir).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make perl \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir /data
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin zentra

# --- runtime: glibc and libgcc_s, nothing else -----------------------------
# distroless/cc has exactly what `ldd zentra` names (libc, libm, libgcc_s)
# and the same glibc as bookworm; no shell, no package manager. Its
# `nonroot` variant runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/zentra /usr/local/bin/zentra
# The SQLite default's folder, owned by the non-root user: a named volume
# mounted here starts with this owner (a bind mount needs `chown 65532`).
COPY --from=build --chown=65532:65532 /data /data
VOLUME ["/data"]
# Listen on every interface inside the container; keep the SQLite file on
# the volume. Outside `local` both JWT keys are required, so the image
# refuses to start without them instead of signing with random keys that a
# restart would forget (ENVIRONMENT=local to try it out).
ENV SERVER__HOST=0.0.0.0 \
    SERVER__PORT=8000 \
    DB__URL=sqlite:////data/zentra.db \
    ENVIRONMENT=production
EXPOSE 8000
# SIGTERM gives requests in flight up to 10 s: let the engine wait longer
# than that before it kills (`docker stop -t 15`, compose stop_grace_period).
STOPSIGNAL SIGTERM
# No HEALTHCHECK: distroless has no shell or curl to run one, and the binary
# has no probe command. Probe over HTTP from outside instead: GET / for
# liveness, GET /api/health for readiness (503 while the database is away).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/zentra"]
CMD ["serve"]
