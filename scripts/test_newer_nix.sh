#!/usr/bin/env bash
# Run the test suite against a newer Nix than Debian 12's 2.8: Debian 13's nix-bin (2.26: the libgit2
# git fetcher, `nix path-info --json` keyed by path, traces before error messages), with its Python
# (3.13) and git (2.47), in a chroot made with debootstrap. Root only; needs Debian's mirror.
#
#   sudo scripts/test_newer_nix.sh [CHROOT-DIR]      # default /var/tmp/gitmine-trixie, reused by later runs
#   sudo SUITE=sid scripts/test_newer_nix.sh /var/tmp/gitmine-sid     # Debian unstable's Nix (2.34 in 2026)
#   sudo PYTEST_ARGS='-k submodules' scripts/test_newer_nix.sh       # some of the tests only
#
# The project's files (tracked and untracked, not ignored) are copied in; the chroot keeps its Nix store
# between runs. About four minutes the first time on a 2-core machine, two and a half after.
set -euo pipefail
root=${1:-/var/tmp/gitmine-trixie}
suite=${SUITE:-trixie}
mirror=${MIRROR:-http://deb.debian.org/debian}
project=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" = 0 ] || { echo "test_newer_nix.sh: run as root (debootstrap, chroot, mounts)" >&2; exit 2; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null

if [ ! -x "$root/usr/bin/nix" ]; then
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >/dev/null
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # a mirror that serves a snapshot (as some offline setups do) may hold Release files past their date
    chroot "$root" apt-get -o Acquire::Check-Valid-Until=false update -qq
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        nix-bin git git-lfs ca-certificates python3 python3-venv >/dev/null
fi
# the host's certificates (a proxy in front of PyPI may need its own authority)
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/host-ca.crt"

mounted=()
cleanup() {
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" || true; done
}
trap cleanup EXIT
for m in proc sys dev dev/pts; do  # Nix's builds need a pseudo-terminal: /dev/pts
    mount --bind "/$m" "$root/$m"
    mounted+=("$root/$m")
done
mount -t tmpfs tmpfs "$root/tmp"
mounted+=("$root/tmp")

rm -rf "$root/src" && mkdir -p "$root/src"
(cd "$project" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - --no-recursion --ignore-failed-read 2>/dev/null) |
    tar -C "$root/src" -xf -

chroot "$root" env -i PATH=/venv/bin:/usr/bin:/bin HOME=/root PIP_CERT=/etc/ssl/host-ca.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 bash -c '[ -x /venv/bin/python ] || python3 -m venv /venv
        pip install --quiet "/src[test,plot]"'
chroot "$root" env -i PATH=/venv/bin:/usr/bin:/bin HOME=/root GITMINE_REQUIRE_NIX=1 PYTEST_ARGS="${PYTEST_ARGS:-}" \
    NIX_CONFIG=$'sandbox = false\nbuild-users-group =\nsubstituters =\nexperimental-features = nix-command flakes' \
    bash -c 'cd /src && nix --version && python --version && git --version && python -m pytest -q -p no:cacheprovider $PYTEST_ARGS'
