# @attack: resolve names through the host's resolver
# @language: bash
# @lanes: host
# @contained: 1
if getent hosts example.com >/dev/null 2>&1 || getent hosts debian.org >/dev/null 2>&1; then echo "ESCAPED resolved an external name"; else echo "CONTAINED no name resolution"; fi
