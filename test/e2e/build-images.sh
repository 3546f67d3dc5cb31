#!/bin/sh
# Builds, offline, the two images the container tests (and a person trying the
# Pod by hand) need, from files of this machine only:
#
#   $INIT_IMAGE (localhost/process-manager-init:$IMAGE_TAG)
#       Dockerfile.init: process-manager, the libraries `ldd` lists for it, the loader.
#   $ES_IMAGE   (localhost/process-manager-e2e-fake-es:$IMAGE_TAG)
#       test/fixtures/e2e/fake-es/Dockerfile: busybox (sh, sleep, ps, kill...),
#       test/fixtures/es/fake-es as /usr/local/bin/docker-entrypoint.sh, a curl
#       shim for the liveness probe, and the same libraries so that the
#       process-manager copied in by the init container can run there.
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
#
# Prints INIT_IMAGE=... and ES_IMAGE=... on its last two lines.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
tag=${IMAGE_TAG:-dev}
build_dir=${BUILD_DIR:-dist}
case "$build_dir" in /*) ;; *) build_dir=$root/$build_dir ;; esac
executable=${EXECUTABLE:-$build_dir/process-manager}
busybox=${BUSYBOX:-$(command -v busybox || true)}
podman=${PODMAN:-podman}
init_image=localhost/process-manager-init:$tag
es_image=localhost/process-manager-e2e-fake-es:$tag

die() { echo "build-images.sh: $*" >&2; exit 1; }
[ -x "$executable" ] || die "$executable is missing: run 'node build.mjs' (BUILD_DIR=$build_dir)"
[ -n "$busybox" ] && [ -x "$busybox" ] || die "no busybox: apt-get install busybox-static"
command -v ldd >/dev/null || die "no ldd (Debian: libc-bin)"

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
init_rootfs=$staging/init/rootfs
copy_with_libraries "$executable" "$init_rootfs" /usr/local/bin/process-manager
chmod 0755 "$init_rootfs/usr/local/bin/process-manager"
mkdir -m 1777 "$init_rootfs/tmp"

# The fake Elasticsearch image.
es_rootfs=$staging/es/rootfs
for library in $(libraries_of "$executable"); do
  mkdir -p "$es_rootfs$(dirname "$library")"
  cp -L "$library" "$es_rootfs$library"
done
copy_with_libraries "$busybox" "$es_rootfs" /bin/busybox
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || [ -e "$es_rootfs/bin/$applet" ] || ln -s busybox "$es_rootfs/bin/$applet"
done
mkdir -p "$es_rootfs/usr/local/bin" "$es_rootfs/usr/bin"
cp "$root/test/fixtures/es/fake-es" "$es_rootfs/usr/local/bin/docker-entrypoint.sh"
cp "$root/test/fixtures/e2e/fake-es/curl.sh" "$es_rootfs/usr/bin/curl"
chmod 0755 "$es_rootfs/usr/local/bin/docker-entrypoint.sh" "$es_rootfs/usr/bin/curl"
mkdir -m 1777 "$es_rootfs/tmp"

"$podman" build --pull=never --quiet -f "$root/Dockerfile.init" -t "$init_image" "$staging/init" >/dev/null
"$podman" build --pull=never --quiet -f "$root/test/fixtures/e2e/fake-es/Dockerfile" -t "$es_image" "$staging/es" >/dev/null
echo "INIT_IMAGE=$init_image"
echo "ES_IMAGE=$es_image"
