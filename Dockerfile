# minikraft as a drop-in for bitnami/kafka: same user (1001, group root), same data volume
# (/bitnami/kafka, data in /bitnami/kafka/data), same ports, same KAFKA_CFG_* environment.
#
# Build it with scripts/build-image.sh, not with `docker build .`: the image is FROM scratch so
# that it builds with no registry at all, which means the static binary and the few files below
# come from a build context the script prepares (see there).
FROM scratch

# /etc/passwd and /etc/group (so uid 1001 has a name and a home), /tmp (mode 1777), and
# /etc/minikraft/server.properties from scripts/image/ (log.dirs=/bitnami/kafka/data, listeners
# on all interfaces).
COPY rootfs/ /
# Owned by the runtime user: an empty named volume mounted here is initialised by Docker from
# this directory, ownership included, so the broker can write to it on first start.
COPY --chown=1001:0 bitnami/ /bitnami/
# The binary and, linked to it, Kafka's tools under their script names (kafka-topics.sh,
# kafka-topics, ...: scripts/image/kafka-tools.txt), so `docker exec kafka-0 kafka-topics.sh
# --bootstrap-server localhost:9092 --list` and a compose healthcheck in CMD form work with no
# shell in the image.
COPY bin/ /usr/local/bin/

ENV PATH=/usr/local/bin
USER 1001
WORKDIR /bitnami/kafka
# PLAINTEXT, CONTROLLER and the seed's EXTERNAL listener; 8080 is `minikraft console` (the
# seed's `ui:` service: `command: console`), which listens on all interfaces in the image only;
# 8081 the node's HTTP listener (/metrics, /readyz, /livez).
EXPOSE 9092 9093 9094 8080 8081
ENV MINIKRAFT_CONSOLE_LISTEN=0.0.0.0:8080

# GET /readyz on the node's HTTP listener (8081, minikraft.http.listener in the properties file
# the check reads too): registered, caught up and unfenced. With the listener turned off
# (KAFKA_CFG_MINIKRAFT_HTTP_LISTENER=), one ApiVersions round trip to 127.0.0.1:9092 instead. A
# short interval because Docker 20.10 runs the first check only after one interval, and
# `depends_on: condition: service_healthy` waits for it.
HEALTHCHECK --interval=5s --timeout=6s --start-period=30s --retries=3 CMD ["minikraft", "healthcheck", "--config-file", "/etc/minikraft/server.properties"]

# The properties file comes first and the environment overrides it; arguments given to
# `docker run` (flags such as --node-id or --config key=value) are appended and win over both.
ENTRYPOINT ["minikraft", "--config-file", "/etc/minikraft/server.properties"]
