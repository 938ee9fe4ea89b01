# Multi-stage: build a static binary, ship it alone on a distroless,
# non-root base. Untested here (no Docker engine on the build machine).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# COPY . . brings no .git in most build contexts, so Go cannot record the
# commit itself: pass it, and the release version, as build arguments:
#   docker build --build-arg VERSION=0.3.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     -t ghcr.io/pushpoll/pushpoll:0.3.0 .
# An empty VERSION leaves internal/version's Default, the source tree's version.
ARG VERSION=""
ARG COMMIT=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w \
      -X github.com/pushpoll/pushpoll/internal/version.version=${VERSION} \
      -X github.com/pushpoll/pushpoll/internal/version.commit=${COMMIT}" \
    -o /out/notifier ./cmd/notifier

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/notifier /notifier
USER nonroot:nonroot
EXPOSE 8080
ENV PUSHPOLL_LISTEN=:8080
# No shell in the image: the binary checks itself.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/notifier", "healthcheck"]
ENTRYPOINT ["/notifier"]
