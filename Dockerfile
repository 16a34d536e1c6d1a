# Crucible's agent as a container image (seed 003's "past one machine" path).
#   docker build -t crucible:latest .
# Configuration comes from the environment (every flag has a CRUCIBLE_* variable, see
# `npm start -- --help`); the model cache lives on the volume at /var/lib/crucible. The image
# binds 127.0.0.1 by default: listening on 0.0.0.0 needs keys, which the Kubernetes manifests
# mount from a Secret (--api-keys-file), so an agent never listens beyond loopback without them.
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY . .
# postinstall compiles the TypeScript into build/; then the dev-only packages go.
RUN npm ci && npm prune --omit=dev && rm -rf test build/test .tap

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    CRUCIBLE_HOME=/var/lib/crucible \
    CRUCIBLE_PORT=5000
COPY --from=build /app /app
RUN mkdir -p /var/lib/crucible && chown node:node /var/lib/crucible
USER node
VOLUME /var/lib/crucible
EXPOSE 5000
# The agent; arguments after the image name are its flags (e.g. --host 0.0.0.0 --api-keys-file ...).
ENTRYPOINT ["node", "build/agent/main.js"]
