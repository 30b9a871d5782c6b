# @attack: exec with an argument list and environment past ARG_MAX, and a 1 MiB single argument
# @language: bash
# @lanes: host
# @contained: 1
big=$(head -c 1048576 /dev/zero | tr '\0' x)
/bin/true "$big" 2>/dev/null
/bin/true $(seq 1 400000) 2>/dev/null
X=$big /bin/true 2>/dev/null
echo "CONTAINED the kernel refused or ran them"
