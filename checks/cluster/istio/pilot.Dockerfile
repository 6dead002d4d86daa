# istiod's image, as Istio's pilot/docker/Dockerfile.pilot lays it out: pilot-discovery built from
# the pinned istio.io/istio commit, run as Istio's uid 1337. BASE_IMAGE is the Debian base
# build-images.sh makes (Istio's own base image cannot be pulled here).
# Build context: a folder holding pilot-discovery.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY pilot-discovery /usr/local/bin/pilot-discovery
USER 1337:1337
ENTRYPOINT ["/usr/local/bin/pilot-discovery"]
