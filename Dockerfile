# Multi-stage build: a static, cgo-free binary (the embedded store is pure-Go
# SQLite) on a distroless base. No Docker engine runs on the dev machines
# here, so this file is kept correct by reading; see README.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/app . && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /srv
COPY --from=build /out/app /srv/app
COPY configs/ /srv/configs/
# The embedded store and the generated signing key live here when no
# DATABASE_URL / AUTH_SIGNING_KEY is given; distroless has no mkdir, and
# nonroot (65532) could not create it under /srv.
COPY --from=build --chown=65532:65532 /out/data /srv/data
ENV HTTP_ADDR=:8080 LOG_FORMAT=json DATA_DIR=/srv/data
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK NONE
ENTRYPOINT ["/srv/app"]
CMD ["serve"]
