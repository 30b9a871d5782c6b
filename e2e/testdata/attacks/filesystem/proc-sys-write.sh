# @attack: write host-wide kernel settings under /proc/sys: core_pattern, modprobe, binfmt_misc, drop_caches, file-max, hostname
# @language: bash
# @lanes: host
# @contained: 6
try() { if { echo "$2" > "$1"; } 2>/dev/null; then echo "ESCAPED wrote $1"; else echo "CONTAINED $1 is read-only"; fi; }
try /proc/sys/kernel/core_pattern "$(cat /proc/sys/kernel/core_pattern)"
try /proc/sys/kernel/modprobe "$(cat /proc/sys/kernel/modprobe)"
try /proc/sys/fs/binfmt_misc/register ':atod:E::atodx::/bin/true:'
try /proc/sys/vm/drop_caches 0
try /proc/sys/fs/file-max "$(cat /proc/sys/fs/file-max)"
try /proc/sys/kernel/hostname ato
