# @attack: reach the host's filesystem through /proc/*/root, /proc/*/cwd and ..
# @language: bash
# @lanes: host
# @contained: 1
# Containment: every process's root is the run's root; .. of / is /.
found=
for p in /proc/[0-9]*/root /proc/[0-9]*/cwd /proc/self/root/../../.. /ATO/../../..; do
	test -e "$p@@CANARY_FILE@@" && found="$found $p"
	test -e "$p@@STATE_DIR@@" && found="$found $p(state)"
done
cd /; cd ../../..; test -e "./@@CANARY_FILE@@" && found="$found cd.."
if [ -n "$found" ]; then echo "ESCAPED host paths through$found"; else echo "CONTAINED no root or cwd leads to the host"; fi
