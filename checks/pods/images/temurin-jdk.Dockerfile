# Stands in for the public eclipse-temurin 25 JDK image, which cannot be pulled here: the local
# Debian base plus the Temurin 25 JDK installed on this machine, laid out as the official image
# lays it out (JAVA_HOME=/opt/java/openjdk, first on the PATH), with the packages of the official
# image a build uses: binutils (jlink --strip-debug runs objcopy), CA certificates, tzdata. Like
# the official image it has neither curl nor wget, so the Maven Wrapper downloads Maven with Java.
# The JDK's trust store is this machine's Java trust store: builds here reach Maven Central
# through a TLS-inspecting egress whose CA only the machine's store holds.
# Build context: a staging directory with the JDK in jdk/.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       binutils ca-certificates p11-kit tzdata \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/opt/java/openjdk \
    LANG=C.UTF-8
ENV PATH=$JAVA_HOME/bin:$PATH
COPY jdk/ /opt/java/openjdk/
RUN java -version && jlink --version
CMD ["jshell"]
