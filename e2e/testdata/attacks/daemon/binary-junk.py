# @attack: binary junk on both streams: invalid UTF-8, NULs, terminal escapes, a msgpack-looking frame
# @language: python
# @lanes: host
# @contained: 1
import os, sys
junk = bytes(range(256)) * 64 + b"\x1b]0;pwned\x07\x1b[2J\x81\xa4Done\x8f" + os.urandom(32768)
sys.stdout.buffer.write(junk); sys.stderr.buffer.write(junk[::-1]); sys.stdout.flush()
print("\nCONTAINED wrote junk", flush=True)
