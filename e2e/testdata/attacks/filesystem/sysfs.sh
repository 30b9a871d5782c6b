# @attack: sysfs: the uevent helper, the kernel's notes; mount a sysfs of our own
# @language: bash
# @lanes: host
# @contained: 3
n=$(ls -A /sys 2>/dev/null | wc -l)
if [ "$n" = 0 ]; then echo "CONTAINED /sys is empty"; else echo "ESCAPED /sys holds $n entries"; fi
if { echo /tmp/x > /sys/kernel/uevent_helper; } 2>/dev/null; then echo "ESCAPED wrote uevent_helper"; else echo "CONTAINED no uevent_helper"; fi
mkdir -p /tmp/sys
if mount -t sysfs sysfs /tmp/sys 2>/dev/null; then echo "ESCAPED mounted a sysfs"; else echo "CONTAINED cannot mount sysfs"; fi
