# @attack: open host devices that a run must not have: memory, ports, kmsg, disks, kvm, vsock, fuse, loop, userfaultfd, net/tun
# @language: bash
# @lanes: host
# @contained: 2
extra=$(ls -A /dev | grep -vxE 'core|fd|full|null|ptmx|pts|random|shm|stderr|stdin|stdout|tty|urandom|zero' | tr '\n' ' ')
if [ -z "$extra" ]; then echo "CONTAINED /dev holds only the harmless nodes"; else echo "ESCAPED /dev also holds $extra"; fi
opened=
for d in /dev/mem /dev/kmem /dev/port /dev/kmsg /dev/sda /dev/vda /dev/kvm /dev/vsock /dev/vhost-vsock /dev/fuse /dev/loop-control /dev/loop0 /dev/userfaultfd /dev/net/tun /dev/console /dev/tty0 /dev/hpet /dev/cpu/0/msr; do
	{ exec 3<"$d"; } 2>/dev/null && opened="$opened $d"
	exec 3<&- 2>/dev/null
done
if [ -z "$opened" ]; then echo "CONTAINED none of the host's devices opens"; else echo "ESCAPED opened$opened"; fi
