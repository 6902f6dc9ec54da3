# Sourced by every deploy/local script. One place for ports, versions and paths.
# Everything binds to 127.0.0.1 on non-default ports; all state lives under HL_STACK_DIR.
# Override any variable from the environment before calling a script.

HL_ROOT=${HL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HL_STACK_DIR=${HL_STACK_DIR:-$HL_ROOT/.stack}
HL_CACHE_DIR=${HL_CACHE_DIR:-$HL_STACK_DIR/cache}      # downloaded jars, built launchers
HL_LOG_DIR=${HL_LOG_DIR:-$HL_STACK_DIR/log}
HL_RUN_DIR=${HL_RUN_DIR:-$HL_STACK_DIR/run}            # pid files

# Ports (loopback only).
HL_PG_PORT=${HL_PG_PORT:-25432}
HL_KAFKA_PORT=${HL_KAFKA_PORT:-29092}
HL_KAFKA_CONTROLLER_PORT=${HL_KAFKA_CONTROLLER_PORT:-29093}
HL_CONNECT_PORT=${HL_CONNECT_PORT:-28083}
HL_REGISTRY_PORT=${HL_REGISTRY_PORT:-28081}
HL_MONGO_PORT=${HL_MONGO_PORT:-27027}
HL_COMMAND_PORT=${HL_COMMAND_PORT:-8080}
HL_QUERY_PORT=${HL_QUERY_PORT:-8081}
HL_REGISTRY_URL=${HL_REGISTRY_URL:-http://127.0.0.1:$HL_REGISTRY_PORT/apis/ccompat/v7}  # Confluent-compatible base URL (Apicurio ccompat)

# Pinned versions.
HL_PG_MAJOR=15
HL_KAFKA_VERSION=3.9.1
HL_KAFKA_SCALA=2.13
HL_DEBEZIUM_VERSION=${HL_DEBEZIUM_VERSION:-3.2.3.Final}   # newest 3.2.x on Central; built against Kafka 3.9.1
HL_FERRETDB_VERSION=v1.24.2
HL_APICURIO_VERSION=${HL_APICURIO_VERSION:-3.0.9}

# Database names.
HL_PG_DB=${HL_PG_DB:-hearlers}
HL_PG_USER=${HL_PG_USER:-hearlers}
HL_MONGO_DB=${HL_MONGO_DB:-hearlers_read}

export HL_ROOT HL_STACK_DIR HL_CACHE_DIR HL_LOG_DIR HL_RUN_DIR
