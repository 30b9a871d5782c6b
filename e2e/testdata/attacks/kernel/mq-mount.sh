# @attack: mount the message queue filesystem and a devpts of the host's instance
# @language: bash
# @lanes: host
# @contained: 2
mkdir -p /tmp/mq /tmp/pts
if mount -t mqueue mqueue /tmp/mq 2>/dev/null; then echo "ESCAPED mounted mqueue"; else echo "CONTAINED no mqueue mount"; fi
if mount -t devpts devpts /tmp/pts 2>/dev/null; then echo "ESCAPED mounted devpts"; else echo "CONTAINED no devpts mount"; fi
