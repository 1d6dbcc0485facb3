# shellcheck shell=bash
# fixture.sh - the tree the conformance table is written against; sourced
# by run.sh (CI) and peers.sh (urt-http beside nginx and h2o), so both serve
# the same files. cases.txt's header describes the tree.
#   conformance_root DIR   make the tree in DIR (created)
conformance_root() {
	local root=$1
	mkdir -p "$root/dir" "$root/nodir"
	printf 'hello world\n' > "$root/a.txt"
	printf '<p>index</p>\n' > "$root/index.html"
	printf '<p>dir</p>\n' > "$root/dir/index.html"
	printf 'bee\n' > "$root/dir/b.txt"
	printf 'space\n' > "$root/sp ace.txt"
	: > "$root/empty.txt"
	ln -s /etc/passwd "$root/link-out"
	# a directory whose path is past 512 bytes (/d200/d200/d200): its 301's Location
	local d200
	d200=$(printf '%0200d' 0 | tr 0 d)
	mkdir -p "$root/$d200/$d200/$d200"
	touch -d '2020-01-01 00:00:00 UTC' "$root/a.txt"
}
