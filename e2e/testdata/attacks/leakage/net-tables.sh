# @attack: see the host's sockets and connections: /proc/net/tcp (the host listener's port), unix sockets, netlink
# @language: bash
# @lanes: host
# @contained: 2
port=$(printf '%04X' @@HOST_PORT@@)
if grep -q ":$port " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then echo "ESCAPED the host's listener is in /proc/net/tcp"; else echo "CONTAINED no host sockets"; fi
if grep -q '@@HOST_ABSTRACT@@' /proc/net/unix; then echo "ESCAPED the host's abstract socket is listed"; else echo "CONTAINED no host unix sockets"; fi
