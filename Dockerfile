# Multi-stage release build of mysql2hbase.
#   docker build -t mysql2hbase .
#   docker run -v /etc/mysql2hbase:/etc/mysql2hbase:ro mysql2hbase
# The configuration is read from /etc/mysql2hbase/mysql2hbase.toml (mount it); every key can also
# be set with MYSQL2HBASE__SECTION__KEY environment variables. To reach the admin API from outside
# the container, set MYSQL2HBASE__ADMIN__LISTEN=0.0.0.0:8686 and MYSQL2HBASE__ADMIN__TOKEN=...
# (a non-loopback address requires a token).
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --bin mysql2hbase

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libcurl4 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home mysql2hbase
COPY --from=build /src/target/release/mysql2hbase /usr/local/bin/mysql2hbase
COPY config/mysql2hbase.example.toml /etc/mysql2hbase/mysql2hbase.example.toml
USER mysql2hbase
EXPOSE 8686
ENTRYPOINT ["mysql2hbase"]
CMD ["run", "--config", "/etc/mysql2hbase/mysql2hbase.toml"]
