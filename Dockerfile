# strata's container image: `make docker`, or
#   docker build --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse HEAD) -t strata .
# Run with the built-in welcome configuration:  docker run -p 8080:8080 strata
# With yours (and plugins):  docker run -p 80:8080 -v $PWD/conf:/etc/strata:ro -v $PWD/wasm:/usr/lib/strata/plugins:ro strata
# Reload: docker kill -s HUP CONTAINER. Stop (drains for global.grace): docker stop.

# Build stage: a static binary (no cgo, so no libc in the final image).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
ARG COMMIT=
ENV CGO_ENABLED=0
RUN go build -trimpath \
      -ldflags "-s -w ${VERSION:+-X main.version=$VERSION} ${COMMIT:+-X main.commit=$COMMIT}" \
      -o /out/strata ./cmd/strata \
 && /out/strata version
# The built-in configuration, listening on every address of the container
# rather than on 127.0.0.1 (which nothing outside the container reaches).
RUN mkdir -p /out/etc/strata /out/plugins /out/cache \
 && sed 's/127\.0\.0\.1:8080/:8080/' core/config/default.yaml > /out/etc/strata/strata.yaml \
 && echo 'strata:x:65532:65532:strata:/nonexistent:/sbin/nologin' > /out/passwd \
 && echo 'strata:x:65532:' > /out/group

# Final stage: the binary, CA certificates (OTLP over TLS, TLS to servers),
# the configuration and nothing else.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/strata /usr/local/bin/strata
COPY --from=build --chown=65532:65532 /out/etc/strata /etc/strata
COPY --from=build --chown=65532:65532 /out/plugins /usr/lib/strata/plugins
# Compiled plugins are cached in $XDG_CACHE_HOME/strata/plugins.
COPY --from=build --chown=65532:65532 /out/cache /var/cache/strata
ENV XDG_CACHE_HOME=/var/cache
# Never root: ports below 1024 are mapped by the runtime (-p 80:8080).
USER 65532:65532
VOLUME ["/etc/strata", "/usr/lib/strata/plugins"]
EXPOSE 8080
# No HEALTHCHECK: the image holds no HTTP client to probe with, and
# `strata check` would prove only that the file is valid, not that the
# proxy serves. Orchestrators probe a frontend (or the admin API) directly.
ENTRYPOINT ["/usr/local/bin/strata"]
CMD ["run", "-c", "/etc/strata/strata.yaml"]
