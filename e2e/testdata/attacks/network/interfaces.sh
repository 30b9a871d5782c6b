# @attack: find a way out: interfaces, routes, neighbours besides loopback
# @language: bash
# @lanes: host
# @contained: 2
ifs=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')
if [ "$ifs" = "lo " ]; then echo "CONTAINED only lo"; else echo "ESCAPED interfaces: $ifs"; fi
routes=$(tail -n +2 /proc/net/route | wc -l)
if [ "$routes" = 0 ]; then echo "CONTAINED no IPv4 routes"; else echo "ESCAPED $routes IPv4 routes"; fi
