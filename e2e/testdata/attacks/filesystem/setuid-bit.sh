# @attack: make a setuid-root copy of a program and run it for privileges
# @language: bash
# @lanes: host
# @contained: 1
cp /bin/cat /tmp/cat && chown 0:0 /tmp/cat 2>/dev/null; chmod 4755 /tmp/cat 2>/dev/null
caps=$(/tmp/cat /proc/self/status | awk '/^CapEff/ {print $2}')
if [ "$caps" = 0000000000000000 ]; then echo "CONTAINED a setuid program has no capabilities"; else echo "ESCAPED a setuid program has CapEff $caps"; fi
