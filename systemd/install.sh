#!/usr/bin/env bash
# Install Ebbtide as a system service on Raspberry Pi OS Bookworm (Lite or Desktop), from
# the checkout this script is in. Safe to run again: it updates the venv and the unit, and
# never overwrites /etc/ebbtide/config.toml.
#
#   sudo systemd/install.sh                       install (or update), enable and start
#   sudo systemd/install.sh --uninstall           remove it; keep the config and the history
#   sudo systemd/install.sh --uninstall --purge   remove the config and the history too
#
#   --dry-run    print the steps, one command a line, in order; change nothing
#   --root DIR   do the file steps under DIR (a scratch root, for tests). Steps that change
#                the running system (apt, users, the venv, systemctl) are listed as skipped.
#
# A real run and a dry run walk the same steps below: each command goes through run (or
# host, for a step that changes the running system), which prints it and, unless this is a
# dry run, runs it.
set -euo pipefail
umask 022

usage() {
    sed -n '2,12s/^# \{0,1\}//p' "$0"
    exit "${1:-0}"
}

dry=false uninstall=false purge=false ROOT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry=true ;;
        --uninstall) uninstall=true ;;
        --purge) purge=true ;;
        --root) [ $# -ge 2 ] || usage 2 >&2; ROOT="$2"; shift ;;
        --root=*) ROOT="${1#--root=}" ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage 2 >&2 ;;
    esac
    shift
done
if $purge && ! $uninstall; then
    echo "install.sh: --purge goes with --uninstall" >&2
    exit 2
fi
if [ -n "$ROOT" ]; then
    [ -d "$ROOT" ] || { echo "install.sh: --root $ROOT is not a directory" >&2; exit 2; }
    ROOT="$(cd "$ROOT" && pwd)"
elif ! $dry && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run it as root (sudo), or with --dry-run" >&2
    exit 1
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV=/opt/ebbtide/venv
CONFIG=/etc/ebbtide/config.toml
UNIT=/etc/systemd/system/ebbtide.service
STATE=/var/lib/ebbtide
SYSTEMCTL=(systemctl)
[ -z "$ROOT" ] || SYSTEMCTL=(systemctl --root="$ROOT")

# One command as a shell line: words that need it are single-quoted.
quote() {
    local word out=""
    for word in "$@"; do
        if [[ "$word" =~ ^[A-Za-z0-9_./=:@,+%-]+$ ]]; then
            out+="$word "
        else
            out+="'${word//\'/\'\\\'\'}' "
        fi
    done
    printf '%s\n' "${out% }"
}

note() { echo "# $*"; }

# A step: print it, then run it unless this is a dry run.
run() {
    if $dry; then
        quote "$@"
    else
        echo "+ $(quote "$@")"
        "$@"
    fi
}

# A step that changes the running system: skipped under --root.
host() {
    if [ -n "$ROOT" ]; then
        note "skipped under --root: $(quote "$@")"
    else
        run "$@"
    fi
}

install_steps() {
    local packages=(python3-venv espeak-ng libespeak-ng1 libportaudio2 alsa-utils)
    # gpiozero 2 drives the pins through lgpio. Raspberry Pi OS packages it (python3-lgpio,
    # from archive.raspberrypi.com); the venv sees it through --system-site-packages, so
    # pip never has to build lgpio (which needs swig and liblgpio-dev). Plain Debian has no
    # such package (and no GPIO pins): there the service needs GPIOZERO_PIN_FACTORY=mock.
    if compgen -G "$ROOT/etc/apt/sources.list.d/raspi.*" >/dev/null; then
        packages+=(python3-lgpio)
    else
        note "no Raspberry Pi OS apt source: python3-lgpio left out"
    fi
    # PyPI has no 32-bit ARM (armhf) wheels of numpy or of cffi (which sounddevice needs),
    # and pip would try to compile them with no compiler: Debian's go in, and the venv sees
    # them (--system-site-packages below).
    case "$(dpkg --print-architecture 2>/dev/null || uname -m)" in
        armhf|armel|armv6l|armv7l) packages+=(python3-numpy python3-cffi) ;;
    esac
    host apt-get update
    host env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "${packages[@]}"
    # The system user ebbtide (no home, no login shell) in gpio, audio and i2c (the breath
    # sensor's bus). systemd-sysusers creates what is missing, the groups too (a machine that
    # is not a Pi has no gpio; without an i2c group the unit's SupplementaryGroups= would
    # stop the service from starting).
    host systemd-sysusers --inline \
        'u ebbtide - "Ebbtide bedside calm device" /nonexistent /usr/sbin/nologin' \
        'm ebbtide gpio' 'm ebbtide audio' 'm ebbtide i2c'
    # Debian's own python3, not one on root's PATH (pyenv, /usr/local): the venv's python
    # must be readable by the ebbtide user, and python3-lgpio is built for this one.
    host /usr/bin/python3 -m venv --system-site-packages "$VENV"
    # The natural voice (Piper) runs on onnxruntime, which has wheels for 64-bit x86 and ARM
    # only; elsewhere (32-bit Raspberry Pi OS) Ebbtide speaks with espeak-ng. The sensor extra
    # (smbus2, pure Python) reads a breath sensor on I2C, if [sensor] names one.
    local package="${REPO}[voice,sensor]"
    if ! /usr/bin/python3 -c 'import platform, struct, sys
sys.exit(struct.calcsize("P") != 8 or platform.machine() not in ("x86_64", "aarch64"))'; then
        note "no natural voice (Piper) for this $(uname -m) system: Ebbtide speaks with espeak-ng"
        package="${REPO}[sensor]"
    fi
    host "$VENV/bin/pip" install --disable-pip-version-check --no-cache-dir --upgrade "$package"
    if [ -e "$ROOT$CONFIG" ]; then
        note "keeping $ROOT$CONFIG: an existing config is never overwritten"
    else
        run install -D -m 0644 "$REPO/config.example.toml" "$ROOT$CONFIG"
    fi
    run install -D -m 0644 "$REPO/systemd/ebbtide.service" "$ROOT$UNIT"
    host systemctl daemon-reload
    run "${SYSTEMCTL[@]}" enable ebbtide.service
    # Make the voice as the service user, into the state directory the service uses, before
    # the service starts: on a Pi Zero the natural voice takes minutes the first time.
    run install -d -m 0700 "$ROOT$STATE"
    host chown ebbtide:ebbtide "$STATE"
    host runuser -u ebbtide -- env STATE_DIRECTORY="$STATE" \
        "$VENV/bin/ebbtide" check --config "$CONFIG"
    host systemctl restart ebbtide.service
}

uninstall_steps() {
    if [ -e "$ROOT$UNIT" ]; then
        host systemctl stop ebbtide.service
        run "${SYSTEMCTL[@]}" disable ebbtide.service
        run rm -f "$ROOT$UNIT"
        host systemctl daemon-reload
    else
        note "no $ROOT$UNIT: the service is not installed"
    fi
    run rm -rf "$ROOT/opt/ebbtide"
    # --system: a missing user is not an error. userdel removes the ebbtide group with it.
    host deluser --system ebbtide
    if $purge; then
        run rm -rf "$ROOT/etc/ebbtide" "$ROOT$STATE"
    else
        note "keeping $ROOT/etc/ebbtide and $ROOT$STATE (the config and the history)"
    fi
}

if $uninstall; then
    uninstall_steps
else
    install_steps
fi
