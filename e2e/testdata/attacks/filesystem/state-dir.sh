# @attack: list and write the daemon's state directory and its binaries' directory
# @language: bash
# @lanes: host rootless
# @contained: 2
if ls -d @@STATE_DIR@@/* >/dev/null 2>&1; then echo "ESCAPED the state directory is visible"; else echo "CONTAINED no state directory"; fi
if test -e @@BIN_DIR@@/atod || test -e @@BIN_DIR@@/atod-init; then echo "ESCAPED the daemon's binaries are visible"; else echo "CONTAINED no daemon binaries"; fi
