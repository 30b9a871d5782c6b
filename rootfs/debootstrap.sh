#!/usr/bin/env bash
# build-rootfs: build a root filesystem image for atod from rootfs/recipes/NAME.
#
#   scripts/build-rootfs [--force] NAME
#
# Runs debootstrap --variant=minbase with the recipe's packages, applies the
# recipe's update suites, cleans the tree, runs the recipe's checks in it as an
# unprivileged user and installs it into atod's image store (package rootfs):
#
#   $ATOD_IMAGES/NAME/rootfs       the tree (default store: /var/lib/atod/images)
#   $ATOD_IMAGES/NAME/image.json   written last: {"name","env","recipe_hash","created"}
#
# The image is built in $ATOD_IMAGES/.tmp-* and renamed into place, so the
# daemon never sees half an image. If the installed image was built from the
# same recipe by the same version of this script, nothing is done (--force
# rebuilds anyway, e.g. to pick up new security updates).
#
# Packages come from the mirror the host's own apt uses for the recipe's
# suite (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list or *.sources);
# set ATOD_DEBIAN_MIRROR to override. Release files are checked against
# /usr/share/keyrings/debian-archive-keyring.gpg. Needs root, debootstrap,
# unshare and chroot (scripts/setup-host installs them).
set -euo pipefail
shopt -s nullglob
umask 022

# BUILDER_VERSION is part of every image's recipe_hash: bump it when a change
# here changes the trees this script builds, so that existing images are rebuilt.
readonly BUILDER_VERSION=2
readonly IMAGE_ENV='["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/ATO/context"]'
readonly TREE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
readonly NOBODY=65534:65534

say() { printf 'build-rootfs: %s\n' "$*"; }
die() { printf 'build-rootfs: error: %s\n' "$*" >&2; exit 1; }
usage() {
	# shellcheck disable=SC2016 # the variable is shown, not expanded
	printf 'usage: %s [--force] NAME\n  builds rootfs/recipes/NAME into ${ATOD_IMAGES:-/var/lib/atod/images}/NAME\n' "$0" >&2
	exit 2
}

force=0
case ${1:-} in
-f | --force) force=1; shift ;;
-h | --help) usage ;;
esac
[[ $# -eq 1 ]] || usage
name=$1
[[ $name =~ ^[a-z0-9][a-z0-9._-]*$ && ${#name} -le 255 ]] ||
	die "invalid image name '$name': use [a-z0-9][a-z0-9._-]*"

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
recipes=$(cd -- "$here/../rootfs/recipes" && pwd) || die "no rootfs/recipes beside $here"
recipe=$recipes/$name
[[ -f $recipe ]] || die "no recipe $recipe (recipes: $(cd "$recipes" && echo *))"

[[ $EUID -eq 0 ]] || die "must run as root (debootstrap and chroot need it)"
for cmd in debootstrap unshare chroot flock sha256sum mount umount; do
	command -v "$cmd" >/dev/null || die "$cmd not found; run scripts/setup-host"
done
[[ -r $KEYRING ]] || die "$KEYRING not found; install debian-archive-keyring (scripts/setup-host does)"

# --- the recipe --------------------------------------------------------------

suite='' packages=() updates=() checks=()
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
	lineno=$((lineno + 1))
	[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
	read -r key rest <<<"$line"
	case $key in
	suite) suite=$rest ;;
	packages) read -ra words <<<"$rest"; packages+=("${words[@]}") ;;
	updates) read -ra words <<<"$rest"; updates+=("${words[@]}") ;;
	check) checks+=("$rest") ;;
	*) die "$recipe:$lineno: unknown directive '$key' (want suite, packages, updates or check)" ;;
	esac
done <"$recipe"
[[ $suite =~ ^[a-z][a-z0-9-]*$ ]] || die "$recipe: missing or invalid 'suite'"
for word in "${packages[@]}" "${updates[@]}"; do
	# Debian package and suite names; anything else could smuggle options in.
	[[ $word =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || die "$recipe: invalid package or suite name '$word'"
done

recipe_hash=$({ printf 'build-rootfs %s\n' "$BUILDER_VERSION"; cat -- "$recipe"; } | sha256sum)
recipe_hash=${recipe_hash%% *}

# --- the store ---------------------------------------------------------------

images=${ATOD_IMAGES:-/var/lib/atod/images}
[[ $images == /* ]] || die "ATOD_IMAGES must be an absolute path, not '$images'"
mkdir -p -- "$images"
images=$(cd -- "$images" && pwd -P)
dest=$images/$name

# Runs are mapped to an unprivileged host uid, which must be able to reach the tree.
dir=$images
while [[ -n $dir ]]; do
	mode=$(stat -c %a -- "$dir")
	((8#$mode & 1)) || say "warning: $dir is not searchable by others (mode $mode); sandboxed runs will not reach the image"
	dir=${dir%/*}
done

# One build per store at a time: the stale-directory sweep below relies on it.
exec 9>"$images/.lock"
if ! flock -n 9; then
	say "waiting for another build-rootfs in $images"
	flock 9
fi

# unmount_under DIR: detach any mount left below DIR (lazily, deepest first).
unmount_under() {
	awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while IFS= read -r m; do umount -l -- "$m" || true; done
}

# remove_tree DIR: delete DIR without ever crossing into another file system,
# even if an interrupted build left something mounted inside it.
remove_tree() {
	unmount_under "$1"
	rm -rf --one-file-system -- "$1"
}

for stale in "$images"/.tmp-*; do
	say "removing $stale, left by an interrupted build"
	remove_tree "$stale"
done

if ((!force)) && [[ -f $dest/image.json && -d $dest/rootfs ]] &&
	grep -q "\"recipe_hash\": *\"$recipe_hash\"" -- "$dest/image.json"; then
	say "$name is up to date ($dest, recipe sha256 ${recipe_hash:0:12}); --force rebuilds it"
	exit 0
fi

tmp='' old=''
cleanup() {
	local rc=$?
	if [[ -n $old && -d $old && ! -e $dest ]]; then
		mv -T -- "$old" "$dest" # put the previous image back
	fi
	for d in "$tmp" "$old"; do
		[[ -n $d && -e $d ]] && remove_tree "$d"
	done
	((rc == 0)) || printf 'build-rootfs: %s was not changed\n' "$dest" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

tmp=$(mktemp -d -- "$images/.tmp-XXXXXXXX")
chmod 755 -- "$tmp"
tree=$tmp/rootfs
log=$tmp/build.log

# fail STEP: show the end of the build log and stop.
fail() {
	tail -n 30 -- "$log" >&2 || true
	die "$1 failed (log above)"
}

# in_tree CMD...: run CMD as root in the tree, with /proc, in a private mount
# namespace, so no mount outlives the command whatever happens to it.
in_tree() {
	# shellcheck disable=SC2016 # the inner shell expands it
	unshare --mount --propagation private -- /bin/sh -c '
		t=$1; shift
		mount -t proc proc "$t/proc" && exec chroot "$t" "$@"' sh "$tree" \
		/usr/bin/env -i PATH="$TREE_PATH" HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
		${http_proxy:+http_proxy="$http_proxy"} ${https_proxy:+https_proxy="$https_proxy"} "$@"
}

# --- the mirror --------------------------------------------------------------

# apt_uri SUITE: the first deb URI the host's apt configuration lists for
# SUITE, in apt's order (sources.list, then sources.list.d/ by name), or
# nothing. Handles one-line (.list) and deb822 (.sources) files.
apt_uri() {
	local suite=$1 f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do
		[[ -f $f && -r $f ]] || continue
		case $f in
		*.list) awk -v want="$suite" '
			{ sub(/#.*/, ""); gsub(/\[[^]]*\]/, " ") }
			$1 == "deb" && $3 == want { print $2 }' "$f" ;;
		*.sources) awk -v want="$suite" '
			function flush(  n, i, u, s, found) {
				if (enabled != "no" && (" " types " ") ~ / deb /) {
					n = split(suites, s, " ")
					for (i = 1; i <= n; i++) if (s[i] == want) found = 1
				}
				if (found) {
					n = split(uris, u, " ")
					for (i = 1; i <= n; i++) print u[i]
				}
				types = uris = suites = enabled = field = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ { v = $0; gsub(/^[ \t]+|[ \t]+$/, "", v); add(field, v); next }
			{
				i = index($0, ":"); field = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1)
				gsub(/^[ \t]+|[ \t]+$/, "", v); add(field, v)
			}
			function add(f, v) {
				if (f == "types") types = types " " v
				else if (f == "uris") uris = uris " " v
				else if (f == "suites") suites = suites " " v
				else if (f == "enabled") enabled = tolower(v)
			}
			END { flush() }' "$f" ;;
		esac
	done | grep -E -m1 '^(https?|file):' | sed 's:/*$::' || true
}

# Use the host's apt proxy for the downloads unless one is set already.
if [[ -z ${http_proxy:-} ]] && command -v apt-config >/dev/null; then
	eval "$(apt-config shell http_proxy Acquire::http::Proxy https_proxy Acquire::https::Proxy)"
	[[ ${http_proxy:-} == DIRECT ]] && unset http_proxy
	[[ ${https_proxy:-} == DIRECT ]] && unset https_proxy
	[[ -z ${http_proxy:-} ]] || export http_proxy
	[[ -z ${https_proxy:-} ]] || export https_proxy
fi

mirror=${ATOD_DEBIAN_MIRROR:-$(apt_uri "$suite")}
[[ -n $mirror ]] ||
	die "the host's apt sources list no http(s) mirror for '$suite'; add one there or set ATOD_DEBIAN_MIRROR"

# --- build -------------------------------------------------------------------

SECONDS=0
include=$(IFS=,; echo "${packages[*]}")
say "building $name: debootstrap --variant=minbase $suite from $mirror, with ${include:-no extra packages}"
unshare --mount --propagation private -- \
	debootstrap --variant=minbase --components=main --force-check-gpg --keyring="$KEYRING" \
	${include:+--include="$include"} "$suite" "$tree" "$mirror" >"$log" 2>&1 ||
	{ tail -n 20 -- "$tree/debootstrap/debootstrap.log" >>"$log" 2>/dev/null; fail debootstrap; }
say "bootstrapped in ${SECONDS}s"

if ((${#updates[@]})); then
	sources="deb $mirror $suite main"$'\n'
	applied=()
	for s in "${updates[@]}"; do
		uri=$(apt_uri "$s")
		if [[ -z $uri ]]; then
			say "skipping updates from $s: the host's apt sources do not list it"
			continue
		fi
		sources+="deb $uri $s main"$'\n'
		applied+=("$s")
	done
	if ((${#applied[@]})); then
		printf '%s' "$sources" >"$tree/etc/apt/sources.list"
		rm -f -- "$tree/etc/resolv.conf"
		cat /etc/resolv.conf >"$tree/etc/resolv.conf" # a host symlink would dangle in the tree
		{
			in_tree apt-get -q update &&
				in_tree apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade
		} >>"$log" 2>&1 || fail "applying updates from ${applied[*]}"
		upgraded=$(grep -Eo '^[0-9]+ upgraded' -- "$log" | tail -n 1)
		say "applied updates from ${applied[*]}: ${upgraded:-0 upgraded}"
	fi
fi

# --- clean -------------------------------------------------------------------

# Package caches and lists, logs and backups: the image never installs
# anything, and runs have no network.
in_tree apt-get clean >>"$log" 2>&1 || fail "apt-get clean"
find "$tree/var/lib/apt/lists" "$tree/var/cache/apt" "$tree/var/log" "$tree/tmp" "$tree/var/tmp" \
	-xdev -mindepth 1 \( -type f -o -type l \) -delete
find "$tree/var/lib/dpkg" "$tree/var/cache/debconf" -xdev -maxdepth 1 -name '*-old' -delete
rm -rf -- "$tree/var/lib/apt/lists/partial" "$tree/var/cache/apt/archives/partial" "$tree/debootstrap"

# Nothing of the build host: debootstrap copies its resolv.conf and hostname,
# and the mirror's name is no business of the programs run here.
printf '# atod image %s: no package sources; rebuild with scripts/build-rootfs\n' "$name" >"$tree/etc/apt/sources.list"
: >"$tree/etc/resolv.conf"
echo localhost >"$tree/etc/hostname"
[[ -s $tree/etc/hosts ]] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$tree/etc/hosts"

# The sandbox mounts the tree read-only and each run's files on /ATO, so the
# mountpoint must be in the image (as /proc, /dev and /tmp are).
install -d -m 0755 -- "$tree/ATO"

# Runs are mapped to an unprivileged host uid, to which this root-owned tree
# is "others": every directory must be readable and searchable by others, as
# in a normal Debian tree (except /root). Runs get no_new_privs, so set-id
# bits could never work; drop them rather than ship them.
fixed=$(find "$tree" -xdev -type d ! -path "$tree/root" ! -perm -o=rx -print -exec chmod o+rx {} + | wc -l)
((fixed == 0)) || say "directories made readable by others: $fixed"
find "$tree" -xdev -type f -perm /6000 -exec chmod ug-s {} +

# --- check -------------------------------------------------------------------

# Each check runs as nobody in a read-only view of the tree, with a fresh
# /tmp, as a sandboxed run would see it.
for c in "${checks[@]}"; do
	printf '+ %s\n' "$c" >>"$log"
	# shellcheck disable=SC2016 # the inner shell expands it
	unshare --mount --propagation private -- /bin/sh -c '
		t=$1 u=$2; shift 2
		mount --bind "$t" "$t" && mount -o remount,bind,ro "$t" &&
		mount -t proc proc "$t/proc" &&
		mount -t tmpfs -o mode=1777 tmpfs "$t/tmp" &&
		mount -t tmpfs -o mode=1777 tmpfs "$t/var/tmp" &&
		exec chroot --userspec="$u" "$t" "$@"' sh "$tree" "$NOBODY" \
		/usr/bin/env -i PATH="$TREE_PATH" LANG=C.UTF-8 HOME=/tmp /bin/sh -c "cd /tmp && $c" >>"$log" 2>&1 ||
		fail "check '$c'"
done
((${#checks[@]} == 0)) || say "${#checks[@]} checks passed"

# --- install -----------------------------------------------------------------

rm -f -- "$log"
log=/dev/null
cat >"$tmp/image.json.new" <<EOF
{
  "name": "$name",
  "env": $IMAGE_ENV,
  "recipe_hash": "$recipe_hash",
  "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
chmod 644 -- "$tmp/image.json.new"
mv -T -- "$tmp/image.json.new" "$tmp/image.json"
sync -f -- "$tmp/image.json" # the tree and image.json are on disk before the rename publishes them

if [[ -e $dest ]]; then
	old=$tmp.old
	mv -T -- "$dest" "$old"
fi
mv -T -- "$tmp" "$dest"
tmp=''
if [[ -n $old ]]; then
	remove_tree "$old"
	old=''
fi

size=$(du -sx --block-size=1M -- "$dest/rootfs" | cut -f1)
say "installed $name in ${SECONDS}s: ${size} MiB at $dest/rootfs"
