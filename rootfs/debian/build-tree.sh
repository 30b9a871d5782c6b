#!/usr/bin/env bash
# build-tree.sh: build the root filesystem tree of a Debian recipe.
#
#   build-tree.sh RECIPE_FILE TREE NAME
#
# `atod rootfs build NAME` runs this (it is embedded in atod) and installs the
# tree into the image store itself; this script only makes the tree. It runs
# mmdebstrap --variant=minbase with the recipe's packages from its suite and
# update suites, cleans the tree and runs the recipe's checks and version
# commands in it as an unprivileged user. TREE must not exist yet;
# its parent gets build.log, and `versions`: a line "ID<TAB>VERSION" per
# version directive, which atod records in the image's manifest.
#
# Packages come from the mirror the host's own apt uses for the recipe's
# suite (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list or *.sources);
# set ATOD_DEBIAN_MIRROR to override. ATOD_DEB_CACHE, if set, is a directory
# that keeps the downloaded .deb files between builds; after a build, one
# that atod made holds exactly the packages the latest build of each image
# used. Release files are checked against
# /usr/share/keyrings/debian-archive-keyring.gpg. Needs root, mmdebstrap,
# unshare and chroot (scripts/setup-host installs them).
#
# mmdebstrap rather than debootstrap: it resolves packages with apt (virtual
# packages included, which debootstrap cannot, so that recipes had to list
# whole dependency closures), downloads in parallel and installs the suite
# and its updates in one pass.
set -euo pipefail
shopt -s nullglob
umask 022

readonly TREE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
readonly NOBODY=65534:65534

say() { printf 'build-rootfs: %s\n' "$*"; }
die() { printf 'build-rootfs: error: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 3 ]] || die "usage: $0 RECIPE_FILE TREE NAME"
recipe=$1 tree=$2 name=$3
[[ -f $recipe ]] || die "no recipe $recipe"
[[ ! -e $tree && -d $(dirname -- "$tree") ]] || die "$tree must not exist, and its parent must"
log=$(dirname -- "$tree")/build.log

[[ $EUID -eq 0 ]] || die "must run as root (mmdebstrap and chroot need it)"
for cmd in mmdebstrap unshare chroot mount; do
	command -v "$cmd" >/dev/null || die "$cmd not found; run scripts/setup-host"
done
[[ -r $KEYRING ]] || die "$KEYRING not found; install debian-archive-keyring (scripts/setup-host does)"

# --- the recipe --------------------------------------------------------------

suite='' packages=() updates=() checks=() version_ids=() version_cmds=() npms=()
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
	version)
		read -r id cmd <<<"$rest"
		[[ $id =~ ^[a-z0-9][a-z0-9_]*$ && -n $cmd ]] || die "$recipe:$lineno: want 'version LANGUAGE_ID COMMAND'"
		version_ids+=("$id") version_cmds+=("$cmd") ;;
	npm)
		read -r spec integrity src dest extra <<<"$rest"
		# An exact version, npm's own integrity string, a file of the
		# package and an absolute destination, without '..' anywhere.
		[[ -z ${extra:-} &&
			$spec =~ ^(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*@[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ &&
			$integrity =~ ^sha512-[A-Za-z0-9+/]{86}==$ &&
			$src =~ ^package/[A-Za-z0-9._/-]+$ && $dest =~ ^/[A-Za-z0-9._/-]+$ &&
			$src/ != *../* && $dest/ != *../* && $dest/ != */./* && $dest != *//* && $dest != */ ]] ||
			die "$recipe:$lineno: want 'npm PACKAGE@X.Y.Z sha512-INTEGRITY package/FILE /DEST' (an exact version, npm's integrity string, a plain path: no '..', '.' or '//')"
		npms+=("$spec $integrity $src $dest") ;;
	*) die "$recipe:$lineno: unknown directive '$key' (want suite, packages, updates, check, version or npm)" ;;
	esac
done <"$recipe"
[[ $suite =~ ^[a-z][a-z0-9-]*$ ]] || die "$recipe: missing or invalid 'suite'"
for word in "${packages[@]}" "${updates[@]}"; do
	# Debian package and suite names; anything else could smuggle options in.
	[[ $word =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || die "$recipe: invalid package or suite name '$word'"
done

# fail STEP: show the end of the build log and stop.
fail() {
	tail -n 30 -- "$log" >&2 || true
	die "$1 failed (log above)"
}

# --- npm packages -------------------------------------------------------------

# Each npm line's package is fetched before anything else, through the
# host's own npm configuration (its registry), and checked against the
# integrity the recipe pins: a wrong or unreachable package fails the build
# before mmdebstrap runs. Its file is installed after the tree is cleaned.
npm_dir=$(dirname -- "$tree")/npm
fetch_npm() {
	local spec integrity src dest tgz got
	read -r spec integrity src dest <<<"$1"
	command -v npm >/dev/null || die "npm package $spec: npm not found; run scripts/setup-host"
	install -d -m 0700 -- "$npm_dir/$2"
	npm pack --silent --ignore-scripts --pack-destination "$npm_dir/$2" -- "$spec" >>"$log" 2>&1 ||
		{ tail -n 5 -- "$log" >&2; die "npm package $spec: npm pack failed (is it in the registry the host's npm uses?)"; }
	tgz=("$npm_dir/$2"/*.tgz)
	((${#tgz[@]} == 1)) || die "npm package $spec: npm pack left ${#tgz[@]} tarballs"
	got=sha512-$(sha512sum -- "${tgz[0]}" | cut -d' ' -f1 | tr a-f A-F | basenc --base16 -d | base64 -w0)
	[[ $got == "$integrity" ]] || die "npm package $spec: its integrity is $got, not the recipe's $integrity"
	tar -xzf "${tgz[0]}" -C "$npm_dir/$2" --no-same-owner --no-same-permissions -- "$src" 2>>"$log" ||
		die "npm package $spec has no $src"
	[[ -f $npm_dir/$2/$src && ! -L $npm_dir/$2/$src ]] || die "npm package $spec: $src is not a regular file"
	say "npm package $spec: integrity checked"
}
# install_npm LINE N: put the file of the Nth npm line at its destination.
install_npm() {
	local spec integrity src dest parent have root
	read -r spec integrity src dest <<<"$1"
	parent=$(dirname -- "$dest")
	# No symbolic link may take the file, or a directory made for it, out
	# of the tree (an image's /var/run points at the host's /run, seen from
	# here): the part of the parent's path that exists (a dangling link
	# counts) is checked before anything is made, and the whole after; the
	# destination itself may only be a file, which install -T replaces
	# rather than writing through a link. Links inside the tree are refused
	# too (/bin is one): name the real path.
	root=$(realpath -e -- "$tree")
	have=$parent
	while [[ ! -e $tree$have && ! -L $tree$have ]]; do have=$(dirname -- "$have"); done
	[[ $(realpath -e -- "$tree$have" 2>/dev/null) == "$root${have%/}" ]] ||
		die "npm package $spec: $have is a symbolic link in the tree"
	install -d -m 0755 -- "$tree$parent"
	[[ $(realpath -e -- "$tree$parent") == "$root${parent%/}" ]] ||
		die "npm package $spec: $parent is a symbolic link in the tree"
	[[ ! -L $tree$dest && (! -e $tree$dest || -f $tree$dest) ]] ||
		die "npm package $spec: $dest is a symbolic link or not a file in the tree"
	install -T -m 0755 -- "$npm_dir/$2/$src" "$tree$dest"
	say "npm package $spec: $dest"
}

: >"$log"
for i in "${!npms[@]}"; do
	fetch_npm "${npms[i]}" "$i"
done

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

# --- the .deb cache -----------------------------------------------------------

# apt keeps its downloads in the cache, bind-mounted as the tree's archive
# directory while mmdebstrap installs; the tree's own archive directory is
# empty once the cache is unmounted. mmdebstrap removes the essential
# packages it downloaded from the archive directory unless told not to
# (--skip=essential/unlink, below), which would empty the cache of them.
cache=${ATOD_DEB_CACHE:-}
if [[ -n $cache ]]; then
	[[ $cache == /* ]] || die "ATOD_DEB_CACHE must be an absolute path: $cache"
	install -d -m 0755 -- "$cache" "$cache/partial"
fi

# prune_cache: in a cache atod made (marked .atod-deb-cache by atod rootfs
# build; a directory that held other things only gains files), keep only
# what the latest build of each image used: this build's packages are those
# installed in the tree, listed in .atod-used/NAME, so that the cache does
# not grow by every superseded version while the builds of other images find
# theirs. Names as apt gives them, with an epoch's ':' as %3a.
prune_cache() {
	[[ -n $cache && -f $cache/.atod-deb-cache ]] || return 0
	local f
	install -d -m 0755 -- "$cache/.atod-used"
	dpkg-query --admindir="$tree/var/lib/dpkg" -W -f '${Package}_${Version}_${Architecture}.deb\n' |
		sed 's/:/%3a/g' | sort -u >"$cache/.atod-used/$name.tmp"
	mv -f -- "$cache/.atod-used/$name.tmp" "$cache/.atod-used/$name"
	declare -A kept=()
	while IFS= read -r f; do kept[$f]=1; done < <(cat -- "$cache/.atod-used"/*)
	for f in "$cache"/*.deb; do
		[[ -n ${kept[$(basename -- "$f")]:-} ]] || rm -f -- "$f"
	done
}

# --- build -------------------------------------------------------------------

sources=("deb $mirror $suite main")
applied=()
for s in "${updates[@]}"; do
	uri=$(apt_uri "$s")
	if [[ -z $uri ]]; then
		say "skipping updates from $s: the host's apt sources do not list it"
		continue
	fi
	sources+=("deb $uri $s main")
	applied+=("$s")
done

SECONDS=0
include=$(IFS=,; echo "${packages[*]}")
say "building $name: mmdebstrap --variant=minbase $suite${applied[*]:+ with updates from ${applied[*]}} from $mirror, with ${include:-no extra packages}${cache:+ (.deb cache $cache)}"
hooks=()
if [[ -n $cache ]]; then
	# shellcheck disable=SC2016 # mmdebstrap's shell expands them
	hooks=(--setup-hook='mkdir -p "$1/var/cache/apt/archives" && mount --bind "$ATOD_BUILD_CACHE" "$1/var/cache/apt/archives"'
		--customize-hook='umount "$1/var/cache/apt/archives"')
fi
# The merged-usr hook makes /bin, /lib and /sbin links into /usr as Debian 12
# has them, without installing the usrmerge package and its Perl modules.
# Its own mount namespace: no mount outlives the build.
ATOD_BUILD_CACHE=$cache unshare --mount --propagation private -- \
	mmdebstrap --variant=minbase --mode=root --format=directory --keyring="$KEYRING" --skip=essential/unlink \
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "${hooks[@]}" \
	${include:+--include="$include"} "$suite" "$tree" "${sources[@]}" >"$log" 2>&1 ||
	fail mmdebstrap
say "bootstrapped in ${SECONDS}s"

prune_cache

# --- clean -------------------------------------------------------------------

# Package caches and lists (mmdebstrap has emptied apt's already), logs and
# backups: the image never installs anything, and runs have no network.
find "$tree/var/lib/apt/lists" "$tree/var/cache/apt" "$tree/var/log" "$tree/tmp" "$tree/var/tmp" \
	-xdev -mindepth 1 \( -type f -o -type l \) -delete
find "$tree/var/lib/dpkg" "$tree/var/cache/debconf" -xdev -maxdepth 1 -name '*-old' -delete
rm -rf -- "$tree/var/lib/apt/lists/partial" "$tree/var/cache/apt/archives/partial"

# Nothing of the build host: mmdebstrap copies its resolv.conf and hostname,
# and the mirror's name is no business of the programs run here.
printf '# atod image %s: no package sources; rebuild with scripts/build-rootfs\n' "$name" >"$tree/etc/apt/sources.list"
: >"$tree/etc/resolv.conf"
chmod 0644 -- "$tree/etc/resolv.conf"
echo localhost >"$tree/etc/hostname"
[[ -s $tree/etc/hosts ]] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$tree/etc/hosts"

# The sandbox mounts its own /dev: the nodes mmdebstrap made there would
# only be device nodes in the image store.
find "$tree/dev" -xdev -mindepth 1 -delete

for i in "${!npms[@]}"; do
	install_npm "${npms[i]}" "$i"
done
rm -rf -- "$npm_dir"

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

# as_nobody CMD: run the shell command CMD as nobody in a read-only view of
# the tree, with a fresh /tmp and the /dev nodes a run has, as a sandboxed
# run would see it, and without fd 3 (atod's lock on the image store, which
# only the build's root processes may hold), for at most CHECK_TIMEOUT
# seconds: a toolchain that hangs fails the build instead of stalling it.
# Its stderr goes to the log.
readonly CHECK_TIMEOUT=${ATOD_CHECK_TIMEOUT:-600}
as_nobody() {
	# shellcheck disable=SC2016 # the inner shell expands it
	timeout --kill-after=10 "$CHECK_TIMEOUT" unshare --mount --propagation private -- /bin/sh -c '
		t=$1 u=$2; shift 2
		mount --bind "$t" "$t" && mount -o remount,bind,ro "$t" &&
		mount -t proc proc "$t/proc" &&
		mount -t tmpfs -o mode=1777 tmpfs "$t/tmp" &&
		mount -t tmpfs -o mode=1777 tmpfs "$t/var/tmp" &&
		mount -t tmpfs -o mode=755,size=64k tmpfs "$t/dev" &&
		for n in null zero full random urandom; do
			: >"$t/dev/$n" && mount --bind "/dev/$n" "$t/dev/$n" || exit 1
		done &&
		exec chroot --userspec="$u" "$t" "$@"' sh "$tree" "$NOBODY" \
		/usr/bin/env -i PATH="$TREE_PATH" LANG=C.UTF-8 HOME=/tmp /bin/sh -c "cd /tmp && $1" 2>>"$log" 3>&-
}

for c in "${checks[@]}"; do
	printf '+ %s\n' "$c" >>"$log"
	as_nobody "$c" >>"$log" || fail "check '$c'"
done
((${#checks[@]} == 0)) || say "${#checks[@]} checks passed"

# Each version command prints its language's version: the first line it
# prints, which must be a short line of printable characters.
versions=$(dirname -- "$tree")/versions
: >"$versions"
for i in "${!version_ids[@]}"; do
	id=${version_ids[i]} c=${version_cmds[i]}
	printf '+ %s\n' "$c" >>"$log"
	out=$(as_nobody "$c") || fail "version of $id: '$c'"
	v=$(printf '%s\n' "$out" | sed -n '/[^[:space:]]/{s/^[[:space:]]*//;s/[[:space:]]*$//;p;q}')
	[[ -n $v && ${#v} -le 100 && $v =~ ^[[:print:]]+$ ]] ||
		die "version of $id: '$c' printed no version (a first line of 1-100 printable characters): $(printf '%q' "${out:0:200}")"
	printf '%s\t%s\n' "$id" "$v" >>"$versions"
	printf '%s\n' "$v" >>"$log"
done
((${#version_ids[@]} == 0)) || say "versions: $(tr '\t\n' '  ' <"$versions")"

rm -f -- "$log"
say "built $name in ${SECONDS}s"
