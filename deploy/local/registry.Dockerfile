# deploy/compose.local.yaml's registry, where registry:3 cannot be pulled: Debian 12's docker-registry (distribution
# 2.8) on the root kiln makes. Its packaged config is broken (htpasswd auth at a path that is a directory: every
# request 401), so registry.yml replaces it; wget is for the same healthcheck command as compose.yaml's.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends docker-registry wget \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/registry && chown docker-registry:docker-registry /var/lib/registry
COPY deploy/local/registry.yml /etc/docker/registry/config.yml
USER docker-registry
ENTRYPOINT ["docker-registry", "serve"]
CMD ["/etc/docker/registry/config.yml"]
