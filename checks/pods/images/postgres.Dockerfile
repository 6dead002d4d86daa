# Stands in for the official postgres image, which cannot be pulled here. It keeps the parts of
# that image's contract our StatefulSets rely on: user postgres with uid/gid 999, the server
# binaries on the PATH, PGDATA defaulting to /var/lib/postgresql/data, the POSTGRES_USER /
# POSTGRES_PASSWORD / POSTGRES_DB variables handled by the entrypoint on first start, port 5432,
# and SIGINT (fast shutdown) as the stop signal. The server is Debian bookworm's PostgreSQL.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG PG_MAJOR=15
# Fixed ids before the package creates its user, as the official image does, so that
# runAsUser/fsGroup 999 in the pod match the files the image owns.
RUN groupadd --system --gid 999 postgres \
    && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres \
    && mkdir -p /etc/postgresql-common/createcluster.d \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main-cluster.conf \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "postgresql-$PG_MAJOR" \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o postgres -g postgres -m 3777 /var/run/postgresql \
    && install -d -o postgres -g postgres -m 1777 /var/lib/postgresql/data
ENV PG_MAJOR=$PG_MAJOR \
    PGDATA=/var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/$PG_MAJOR/bin:$PATH
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
