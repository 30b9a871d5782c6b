# @attack: send UDP datagrams to the host's UDP listener on 127.0.0.1 and to broadcast addresses
# @language: python
# @lanes: host
# @contained: 1
# Containment: the judge's UDP listener on the host's loopback receives
# nothing.
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for a in ["127.0.0.1", "255.255.255.255", "127.255.255.255"]:
    try:
        s.sendto(b"atod-attack", (a, @@HOST_UDP_PORT@@))
    except OSError:
        pass
print("CONTAINED sent datagrams; the host must not have them")
