# @attack: both streams flooded without end, from several processes (the daemon closes a stream past its cap: SIGPIPE ends them, or the timeout)
# @language: bash
# @lanes: host
# @status: any
# @timed-out: any
# @timeout: 3
# @contained: 0
yes & yes >&2 & yes atod-attack & yes >&2 & wait
