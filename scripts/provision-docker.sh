#!/usr/bin/env bash
# Provision a real Docker engine, Compose v2, buildx and a locally built Python base image
# on a Debian 12 machine with no container registry. Idempotent: each step checks first and
# reuses what is there. Fails loudly (set -e) on any step that fails.
#
# Also installs the other real parts the tests use: prometheus, nginx, hey, docker-registry.
set -euo pipefail

BASE_IMAGE=${TOOLKIT_BASE_IMAGE:-local/python:3.11-bookworm}
log() { printf '[provision] %s\n' "$*" >&2; }

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
command -v hey >/dev/null 2>&1 || need_apt+=(hey)
command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  apt-get update -qq
  # policy-rc.d keeps package post-install scripts from starting daemons we start ourselves.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

# The docker client on PATH may be a newer standalone build; the engine is Debian's dockerd.
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  pkill -x dockerd 2>/dev/null || true
  rm -f /var/run/docker.pid
  setsid dockerd --host unix:///var/run/docker.sock >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi

# Compose v2 and buildx: Debian 12 has neither; Debian 13 ships both as plain Go CLI plugins.
if ! docker compose version >/dev/null 2>&1 || ! docker buildx version >/dev/null 2>&1; then
  log "installing compose v2 and buildx plugins from the next Debian release"
  d=$(mktemp -d); mkdir -p "$d/lists/partial"
  awk 'BEGIN{RS="";ORS="\n\n"} /Suites: bookworm bookworm-updates/' \
      /etc/apt/sources.list.d/debian.sources | sed 's/^Suites: .*/Suites: trixie/' > "$d/next.sources"
  o=(-o "Dir::Etc::sourcelist=$d/next.sources" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$d/lists")
  apt-get "${o[@]}" update -qq
  (cd "$d" && apt-get "${o[@]}" download docker-compose docker-buildx >/dev/null)
  for f in "$d"/*.deb; do dpkg -x "$f" /; done
  rm -rf "$d"
  docker compose version >/dev/null
  docker buildx version >/dev/null
fi
# A standalone docker client looks for plugins in its own dirs too; make sure it finds them.
mkdir -p /usr/local/lib/docker/cli-plugins
for p in docker-compose docker-buildx; do
  [ -e "/usr/local/lib/docker/cli-plugins/$p" ] || ln -sf "/usr/libexec/docker/cli-plugins/$p" "/usr/local/lib/docker/cli-plugins/$p"
done

# The base image: no registry is reachable, so build it from Debian packages, with the
# machine's CA certificates inside (HTTPS goes through an intercepting proxy).
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "building base image $BASE_IMAGE with debootstrap (about a minute)"
  r=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$r" >/tmp/debootstrap.log 2>&1 || { tail -20 /tmp/debootstrap.log >&2; exit 1; }
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$r/usr/local/share/ca-certificates/"
  fi
  chroot "$r" update-ca-certificates >/dev/null
  chroot "$r" apt-get clean
  rm -rf "$r/var/lib/apt/lists/"*
  # Use the host's package mirror config so RUN apt-get inside builds works.
  tar -C "$r" -c . | docker import \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'ENV LANG=C.UTF-8' \
      -c 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$r"
fi
log "ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short 2>/dev/null | sed 's/^/compose /'), base image $BASE_IMAGE"
