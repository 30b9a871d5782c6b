# @attack: learn the host's cgroup layout: /proc/self/cgroup, /proc/1/cgroup, mountinfo's cgroup lines
# @language: bash
# @lanes: host v2
# @contained: 1
cat /proc/self/cgroup /proc/1/cgroup
if grep -qF -- "@@CGROUP_NAME@@" /proc/self/cgroup /proc/1/cgroup || grep -q 'atod-' /proc/self/cgroup; then echo "ESCAPED the run sees its host cgroup path"; else echo "CONTAINED the run sees only its own cgroup root"; fi
