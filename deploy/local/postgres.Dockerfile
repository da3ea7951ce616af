# deploy/compose.local.yaml's PostgreSQL, where postgres:16 cannot be pulled: Debian 12's PostgreSQL 15 on the root kiln
# makes, behind the official image's interface (POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, data in
# /var/lib/postgresql/data, pg_isready on PATH), so compose.yaml's service definition runs on it unchanged.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
# No cluster at install time (as the official image): the entrypoint makes one in the volume on first start.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-common \
 && sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY deploy/local/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
USER postgres
# Fast shutdown (as the official image): SIGTERM would wait for every client to disconnect.
STOPSIGNAL SIGINT
ENTRYPOINT ["postgres-entrypoint"]
