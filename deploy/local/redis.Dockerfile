# deploy/compose.local.yaml's Redis, where redis:7 cannot be pulled: Debian 12's redis-server (7.0) on the root kiln
# makes, run as compose.yaml's service runs the official image (its command, data in /data, redis-cli on PATH).
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir /data && chown redis:redis /data
COPY deploy/local/redis-entrypoint.sh /usr/local/bin/redis-entrypoint
WORKDIR /data
USER redis
ENTRYPOINT ["redis-entrypoint"]
CMD ["redis-server"]
