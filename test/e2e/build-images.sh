#!/bin/sh
# Builds, offline, the images the container tests (and a person trying the
# Pod by hand) need, from files of this machine only:
#
#   $INIT_IMAGE (localhost/process-manager-init:$IMAGE_TAG)
#       Dockerfile.init: process-manager, the libraries `ldd` lists for it, the loader.
#   $ES_IMAGE   (localhost/process-manager-e2e-fake-es:$IMAGE_TAG)
#       test/fixtures/e2e/fake-es/Dockerfile: busybox (sh, sleep, ps, kill...),
#       test/fixtures/es/fake-es as /usr/local/bin/docker-entrypoint.sh, a curl
#       shim for the liveness probe, and the same libraries so that the
#       process-manager copied in by the init container can run there.
#   $FAKE_NODE_IMAGE (localhost/process-manager-e2e-fake-node:$IMAGE_TAG)
#       test/fixtures/e2e/fake-node/Dockerfile: the same, but its entrypoint
#       is one node of the fake ES cluster (test/fixtures/es-cluster/fake-node.mjs,
#       run by this machine's node), for the cluster e2e (test/e2e/cluster.test.ts).
#
# Each build context is staged in a temporary directory (removed afterwards)
# and handed to `podman build --pull=never`: both images are FROM scratch.
#
# Environment:
#   IMAGE_TAG   tag of both images (default dev)
#   EXECUTABLE  the built process-manager (default $BUILD_DIR/process-manager,
#               BUILD_DIR defaulting to dist/ as in build.mjs)
#   BUSYBOX     a busybox binary (default: busybox on PATH; Debian's
#               busybox-static gives a static one at /bin/busybox)
#   PODMAN      the podman command (default podman)
#   IMAGES      which to build, among init, fake-es and fake-node (default "init fake-es")
#   NODE        the node executable for fake-node (default: node on PATH)
#
# Prints INIT_IMAGE=..., ES_IMAGE=... and FAKE_NODE_IMAGE=..., one line per image built, last.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
tag=${IMAGE_TAG:-dev}
build_dir=${BUILD_DIR:-dist}
case "$build_dir" in /*) ;; *) build_dir=$root/$build_dir ;; esac
executable=${EXECUTABLE:-$build_dir/process-manager}
busybox=${BUSYBOX:-$(command -v busybox || true)}
podman=${PODMAN:-podman}
images=${IMAGES:-init fake-es}
init_image=localhost/process-manager-init:$tag
es_image=localhost/process-manager-e2e-fake-es:$tag
fake_node_image=localhost/process-manager-e2e-fake-node:$tag
wants() { case " $images " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for image in $images; do
  case "$image" in init|fake-es|fake-node) ;; *) echo "build-images.sh: IMAGES: unknown image '$image' (init, fake-es, fake-node)" >&2; exit 1 ;; esac
done

die() { echo "build-images.sh: $*" >&2; exit 1; }
[ -x "$executable" ] || die "$executable is missing: run 'node build.mjs' (BUILD_DIR=$build_dir)"
[ -n "$busybox" ] && [ -x "$busybox" ] || die "no busybox: apt-get install busybox-static"
command -v ldd >/dev/null || die "no ldd (Debian: libc-bin)"
if wants fake-node; then
  node=${NODE:-$(command -v node || true)}
  [ -n "$node" ] && [ -x "$node" ] || die "no node for the fake-node image (NODE=...)"
fi

staging=$(mktemp -d "${TMPDIR:-/tmp}/pm-images.XXXXXX")
trap 'rm -rf "$staging"' EXIT INT TERM

# The shared libraries and loader a dynamic executable needs, one absolute
# path a line; nothing for a static one. A library ldd cannot find is fatal.
libraries_of() {
  ldd "$1" 2>/dev/null | while read -r first second third _; do
    case "$second" in
      '=>')
        case "$third" in
          /*) echo "$third" ;;
          *) die "$1 needs $first, which ldd cannot find" ;;
        esac ;;
      *) case "$first" in /*) echo "$first" ;; esac ;; # the loader
    esac
  done || true
}

# copy FILE ROOTFS DEST: FILE at ROOTFS/DEST, plus its libraries at their own paths.
copy_with_libraries() {
  mkdir -p "$2$(dirname "$3")"
  cp -L "$1" "$2$3"
  for library in $(libraries_of "$1"); do
    mkdir -p "$2$(dirname "$library")"
    cp -L "$library" "$2$library"
  done
}

# The init image.
if wants init; then
  init_rootfs=$staging/init/rootfs
  copy_with_libraries "$executable" "$init_rootfs" /usr/local/bin/process-manager
  chmod 0755 "$init_rootfs/usr/local/bin/process-manager"
  mkdir -m 1777 "$init_rootfs/tmp"
  "$podman" build --pull=never --quiet -f "$root/Dockerfile.init" -t "$init_image" "$staging/init" >/dev/null
fi

# What both Elasticsearch-like images hold: busybox and its applets, and the
# libraries the process-manager copied in by the init container needs.
es_like_rootfs() {
  for library in $(libraries_of "$executable"); do
    mkdir -p "$1$(dirname "$library")"
    cp -L "$library" "$1$library"
  done
  copy_with_libraries "$busybox" "$1" /bin/busybox
  for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || [ -e "$1/bin/$applet" ] || ln -s busybox "$1/bin/$applet"
  done
  mkdir -p "$1/usr/local/bin" "$1/usr/bin"
  cp "$root/test/fixtures/e2e/fake-es/curl.sh" "$1/usr/bin/curl"
  chmod 0755 "$1/usr/bin/curl"
  mkdir -m 1777 "$1/tmp"
}

# The fake Elasticsearch image.
if wants fake-es; then
  es_rootfs=$staging/es/rootfs
  es_like_rootfs "$es_rootfs"
  cp "$root/test/fixtures/es/fake-es" "$es_rootfs/usr/local/bin/docker-entrypoint.sh"
  chmod 0755 "$es_rootfs/usr/local/bin/docker-entrypoint.sh"
  "$podman" build --pull=never --quiet -f "$root/test/fixtures/e2e/fake-es/Dockerfile" -t "$es_image" "$staging/es" >/dev/null
fi

# The fake cluster node image.
if wants fake-node; then
  node_rootfs=$staging/fake-node/rootfs
  es_like_rootfs "$node_rootfs"
  copy_with_libraries "$node" "$node_rootfs" /usr/local/bin/node
  mkdir -p "$node_rootfs/usr/local/lib/fake-es-cluster"
  cp "$root/test/fixtures/es-cluster/fake-node.mjs" "$node_rootfs/usr/local/lib/fake-es-cluster/fake-node.mjs"
  cp "$root/test/fixtures/e2e/fake-node/docker-entrypoint.sh" "$node_rootfs/usr/local/bin/docker-entrypoint.sh"
  chmod 0755 "$node_rootfs/usr/local/bin/node" "$node_rootfs/usr/local/bin/docker-entrypoint.sh"
  chmod 0644 "$node_rootfs/usr/local/lib/fake-es-cluster/fake-node.mjs"
  "$podman" build --pull=never --quiet -f "$root/test/fixtures/e2e/fake-node/Dockerfile" -t "$fake_node_image" "$staging/fake-node" >/dev/null
fi

if wants init; then echo "INIT_IMAGE=$init_image"; fi
if wants fake-es; then echo "ES_IMAGE=$es_image"; fi
if wants fake-node; then echo "FAKE_NODE_IMAGE=$fake_node_image"; fi
