# Stands in for test.sh's probe image (curlimages/curl, pinned by digest), which cannot be pulled
# here: Debian 12's curl on the Debian base checks/pods makes. test.sh's probe pods and its
# ephemeral container run only `sleep` and `curl`, as a numeric non-root user with a read-only root.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && curl --version | head -n 1
CMD ["curl", "--version"]
