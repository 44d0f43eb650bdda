# docker-cd image: the binary, git (for file:// and path remotes), ssh, the Docker
# CLI and the compose v2 plugin. docker-cd talks to the host's engine through the
# mounted socket:
#
#   docker build -t docker-cd .
#   docker run -d -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /var/lib/docker-cd:/var/lib/docker-cd -p 8080:8080 \
#     -e GIT_REPO_URL=https://github.com/you/stacks.git docker-cd
#
# Every base image is a build argument, so a machine without a registry can
# build the runtime stage from bases it made itself (tests/container/run does:
# a debootstrapped base and a binary built outside the image):
#
#   DOCKER_BUILDKIT=1 docker build --build-arg RUNTIME_BASE=<local base> \
#     --build-arg BINARY_FROM=prebuilt --build-arg PREBUILT=target/release/docker-cd .

ARG RUST_IMAGE=rust:1.89-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim
ARG DOCKER_CLI_IMAGE=docker:27-cli
ARG COMPOSE_IMAGE=docker/compose-bin:v2.29.7
# The stage or image the runtime builds on, and the stage the binary comes from.
ARG RUNTIME_BASE=runtime-base
ARG BINARY_FROM=build

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin docker-cd \
 && cp target/release/docker-cd /docker-cd

# A binary built outside the image (the build context must hold it).
FROM scratch AS prebuilt
ARG PREBUILT=target/release/docker-cd
COPY ${PREBUILT} /docker-cd

FROM ${DOCKER_CLI_IMAGE} AS docker-cli
FROM ${COMPOSE_IMAGE} AS compose

FROM ${DEBIAN_IMAGE} AS runtime-base
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
 && rm -rf /var/lib/apt/lists/*
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=compose /docker-compose /usr/local/libexec/docker/cli-plugins/docker-compose

FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_BASE} AS runtime
COPY --from=binary /docker-cd /usr/local/bin/docker-cd
# Compose resolves relative bind mounts against DATA_DIR on the *host*: mount the
# same path inside and outside the container (see deploy/docker-compose.yml).
ENV DATA_DIR=/var/lib/docker-cd \
    LISTEN_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
VOLUME /var/lib/docker-cd
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD ["/usr/local/bin/docker-cd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/docker-cd"]
