# @attack: use /dev as a second scratch space: fill it, make inodes without end, run a program from it (issue 10: /dev was a writable tmpfs without an inode cap)
# @language: bash
# @lanes: host
# @contained: 3
head -c 8M /dev/zero > /dev/big 2>/dev/null
size=$(stat -c %s /dev/big 2>/dev/null || echo 0); rm -f /dev/big
if [ "$size" -le $((256 * 1024)) ]; then echo "CONTAINED /dev took $size bytes"; else echo "ESCAPED /dev took $size bytes"; fi
n=0; while [ $n -lt 2000 ] && : 2>/dev/null > /dev/f$n; do n=$((n + 1)); done; rm -f /dev/f*
if [ $n -lt 300 ]; then echo "CONTAINED /dev took $n files"; else echo "ESCAPED /dev took $n files"; fi
cp /bin/true /dev/true 2>/dev/null; chmod +x /dev/true 2>/dev/null
if /dev/true 2>/dev/null; then echo "ESCAPED ran a program from /dev"; else echo "CONTAINED /dev is noexec or has no room"; fi
rm -f /dev/true
