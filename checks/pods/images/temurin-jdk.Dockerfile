# Stands in for the public eclipse-temurin JDK 25 image, which cannot be pulled here: the local
# Debian base plus the Temurin 25 JDK installed on this machine, laid out as the official image
# lays it out (JAVA_HOME=/opt/java/openjdk on the PATH) with the tools its users rely on
# (curl/wget for the Maven Wrapper, binutils for jlink --strip-debug, CA certificates).
# Build context: a staging directory with the JDK in jdk/ and this machine's extra CA
# certificates in extra-ca/ (builds reach Maven Central through a TLS-inspecting egress whose CA
# the host trusts; without it the build stage could not download anything here).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates curl wget binutils tzdata p11-kit \
    && rm -rf /var/lib/apt/lists/*
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV JAVA_HOME=/opt/java/openjdk \
    LANG=C.UTF-8
ENV PATH=$JAVA_HOME/bin:$PATH
COPY jdk/ /opt/java/openjdk/
RUN java -version && jlink --version
CMD ["jshell"]
