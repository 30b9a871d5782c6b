# @attack: the classic fork bomb
# @language: bash
# @lanes: host v2
# @status: any
# @timed-out: any
# @timeout: 4
# @contained: 0
# Containment: the pids limit stops it and the run ends at its timeout; the
# judge checks the host, the daemon and that nothing outlives the run.
:(){ :|:& };:
