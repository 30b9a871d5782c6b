# @attack: allocate and touch memory without end
# @language: python
# @lanes: host v2
# @status: killed/9
# @timeout: 20
# @contained: 0
# Containment: the OOM killer ends it at the run's memory limit (the judge
# checks the status and the host after it).
chunks = []
while True:
    chunks.append(b"x" * (64 << 20))
