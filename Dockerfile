# docker-cd image: the binary, git (for file:// and path remotes), the Docker CLI
# and the compose v2 plugin. It talks to the host's engine through its socket.
#
#   docker build -t docker-cd .
#
# Issue 6 (packaging) completes and tests this image; the build here cannot pull
# base images, so it is exercised where a registry is reachable.

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin docker-cd

FROM docker:27-cli AS docker-cli
FROM docker/compose-bin:v2.29.7 AS compose

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
 && rm -rf /var/lib/apt/lists/*
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=compose /docker-compose /usr/local/libexec/docker/cli-plugins/docker-compose
COPY --from=build /src/target/release/docker-cd /usr/local/bin/docker-cd
# Compose resolves relative bind mounts against DATA_DIR on the *host*: mount the
# same path inside and outside the container (see deploy/docker-compose.yml).
ENV DATA_DIR=/var/lib/docker-cd LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/usr/local/bin/docker-cd", "--version"]
ENTRYPOINT ["/usr/local/bin/docker-cd"]
