# @attack: find a route to the host's own addresses, the usual gateways and the outside (a route from the run means it is not cut off)
# @language: python
# @lanes: host
# @contained: 1
# Containment: the run's network namespace has only loopback, so there is
# no route to any other address: connect() fails with ENETUNREACH. The
# probe connects UDP sockets, which only looks the route up and sends
# nothing, so that an escape puts no packet on any network.
import errno, socket
reached = []
answers = set()
for a in "@@HOST_ADDRS@@".split() + ["10.0.2.2", "172.17.0.1", "192.168.1.1", "169.254.169.254", "1.1.1.1", "192.0.2.1"]:
    s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((a, 9))
        reached.append(a + " via " + s.getsockname()[0])
    except OSError as e:
        answers.add(errno.errorcode.get(e.errno, str(e.errno)))
    s.close()
if reached:
    print("ESCAPED a route to " + ", ".join(reached), flush=True)
else:
    print("CONTAINED no route to any host or outside address: " + ", ".join(sorted(answers)), flush=True)
