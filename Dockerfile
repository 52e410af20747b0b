# syntax=docker/dockerfile:1
#
# seatkeeper in a small image: one static binary on distroless/static (no shell, no package
# manager), run as an unprivileged user.
#
#   docker build -t seatkeeper .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work" \
#     -e ATLASSIAN_EMAIL -e ATLASSIAN_API_TOKEN -e ATLASSIAN_ADMIN_API_KEY \
#     seatkeeper plan --policy .
#
# `--user` makes the files seatkeeper writes in the mounted policy folder (the audit log, saved
# plans) yours, and lets it read a git checkout owned by you.

# Build: Alpine's Rust image, where musl is the native C library, so the binary is static.
FROM rust:1-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
# zlib (libgit2's) is compiled in; the `dist` profile is release without debug info, stripped.
ENV LIBZ_SYS_STATIC=1
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --profile dist \
    && cp target/dist/seatkeeper /usr/local/bin/seatkeeper

# Run: CA certificates, /etc/passwd with a `nonroot` user, and the binary.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="seatkeeper" \
      org.opencontainers.image.description="Atlassian Cloud product licenses as code: plan, apply and audit seat reclaims" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /usr/local/bin/seatkeeper /usr/local/bin/seatkeeper
# distroless's `nonroot` (65532), by number so that runAsNonRoot checks can verify it.
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["seatkeeper"]
CMD ["--help"]
