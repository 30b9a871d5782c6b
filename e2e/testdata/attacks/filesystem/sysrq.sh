# @attack: the magic SysRq trigger (a harmless key: h, help)
# @language: bash
# @lanes: host
# @contained: 1
if { echo h > /proc/sysrq-trigger; } 2>/dev/null; then echo "ESCAPED wrote /proc/sysrq-trigger"; else echo "CONTAINED /proc/sysrq-trigger is read-only"; fi
