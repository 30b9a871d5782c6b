# @attack: read the kernel log with dmesg
# @language: bash
# @lanes: host
# @contained: 1
if dmesg 2>/dev/null | grep -q .; then echo "ESCAPED read the kernel log"; else echo "CONTAINED no kernel log"; fi
