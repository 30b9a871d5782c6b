# @attack: change the run's network: add a link, an address, a route; take lo down; add a veth to the host
# @language: bash
# @lanes: host
# @contained: 4
fails() { if "${@:2}" >/dev/null 2>&1; then echo "ESCAPED $1"; else echo "CONTAINED $1 refused"; fi; }
fails "ip link add dummy" ip link add atod0 type dummy
fails "ip addr add" ip addr add 10.9.9.9/24 dev lo
fails "ip route add" ip route add default dev lo
fails "ip link add veth" ip link add v0 type veth peer name v1
