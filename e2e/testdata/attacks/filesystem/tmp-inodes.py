# @attack: exhaust a tmpfs's inodes: empty files in /tmp without end
# @language: python
# @lanes: host
# @contained: 1
# Containment: the tmpfs has its own nr_inodes cap (16384), so creating stops there.
import os
n = 0
try:
    while n < 100000:
        os.close(os.open(f"/tmp/f{n}", os.O_CREAT | os.O_WRONLY, 0o600))
        n += 1
except OSError as e:
    err = e.strerror
print(("CONTAINED" if n <= 16384 else "ESCAPED"), f"made {n} files in /tmp ({err if n < 100000 else 'no error'})")
