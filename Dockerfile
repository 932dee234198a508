# persistd image: node, the built package and its production dependencies in /opt/persistd.
# Use it as a base for Node apps, or copy /opt/persistd into any glibc-based image (Python, Go, ...).

FROM node:24-bookworm-slim AS build
WORKDIR /src
# better-sqlite3 and zstd-napi compile from source when no prebuilt binary can be downloaded; node-gyp then takes
# Node's headers from this image (/usr/local/include/node) instead of downloading them.
ENV npm_config_nodedir=/usr/local
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
# The native zombie reaper (persistd as PID 1 without tini): npm ci's install script builds it; the
# image must not ship without it, so its absence fails the build here.
COPY binding.gyp ./
COPY native ./native
RUN npm ci && test -f build/Release/persistd_reaper.node && npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /opt/persistd
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/build/Release/persistd_reaper.node ./build/Release/persistd_reaper.node
COPY entrypoint.sh README.md ./
RUN mkdir -p /opt/persistd/node/bin \
 && cp /usr/local/bin/node /opt/persistd/node/bin/node \
 && ln -s /opt/persistd/bin/persistd.js /usr/local/bin/persistd
ENTRYPOINT ["/opt/persistd/entrypoint.sh"]
CMD ["node", "server.js"]
