# @attack: reach the host through its own addresses and the usual gateways (ECONNREFUSED would mean its stack answered)
# @language: python
# @lanes: host
# @contained: 1
import socket
reached = []
for a in "@@HOST_ADDRS@@".split() + ["10.0.2.2", "172.17.0.1", "192.168.1.1", "169.254.169.254", "1.1.1.1"]:
    s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET)
    s.settimeout(1)
    try:
        s.connect((a, @@HOST_PORT@@))
        reached.append(a)
    except ConnectionRefusedError:
        reached.append(a + " (refused)")
    except OSError:
        pass
    s.close()
print("ESCAPED reached " + ", ".join(reached) if reached else "CONTAINED no route to any host address", flush=True)
