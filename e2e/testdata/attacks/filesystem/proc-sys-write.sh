# @attack: open host-wide kernel settings under /proc/sys for writing: core_pattern, modprobe, binfmt_misc, drop_caches, file-max, hostname
# @language: bash
# @lanes: host
# @contained: 6
# Containment: /proc/sys is mounted read-only in the run (EROFS), and
# binfmt_misc is not mounted there at all. Opening a file for writing is
# where both are checked, with the kernel's own permission check on the
# setting: the probe opens each one for appending and writes nothing, so
# that an escape changes nothing (no core pattern, no binfmt handler, no
# dropped caches).
try() { if { : >> "$1"; } 2>/dev/null; then echo "ESCAPED $1 opened for writing"; else echo "CONTAINED $1 is not writable"; fi; }
try /proc/sys/kernel/core_pattern
try /proc/sys/kernel/modprobe
try /proc/sys/fs/binfmt_misc/register
try /proc/sys/vm/drop_caches
try /proc/sys/fs/file-max
try /proc/sys/kernel/hostname
