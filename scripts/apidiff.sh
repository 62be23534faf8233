#!/usr/bin/env bash
# Checks that this module's exported API is a superset of
# github.com/hashicorp/memberlist v0.7.0 ("the reference"), using apidiff
# (golang.org/x/exp/cmd/apidiff). Exits 0 when apidiff finds only compatible
# changes (additions), 1 when it reports any incompatible change, 2 when the
# check itself could not run. Prints apidiff's report either way.
#
# The reference is fetched in a throw-away module under a temp dir, so this
# repository's go.mod and go.sum are never touched. The two packages have
# different import paths; apidiff matches their objects by name, so its
# export-data mode compares them directly.
#
# Usage: scripts/apidiff.sh [--self-check]
#   --self-check  compare the reference with itself instead of with this
#                 module; it must pass, which proves the mechanics work.
# Environment:
#   APIDIFF_REF_VERSION  reference version to compare with (default v0.7.0)
set -euo pipefail

readonly ref_module="github.com/hashicorp/memberlist"
readonly ref_version="${APIDIFF_REF_VERSION:-v0.7.0}"

self_check=false
case "${1:-}" in
"") ;;
--self-check) self_check=true ;;
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "apidiff.sh: unknown argument ${1}; see --help" >&2
	exit 2
	;;
esac

die() {
	echo "apidiff.sh: $*" >&2
	exit 2
}

command -v go >/dev/null || die "go is not on PATH; install Go first"

# The repository root is the parent of this script's directory, wherever
# the script is called from.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ -f "${repo_root}/go.mod" ]] || die "no go.mod in ${repo_root}"
new_module="$(cd "${repo_root}" && go list -m)" ||
	die "cannot read the module path of ${repo_root}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/apidiff.XXXXXX")"
cleanup() { rm -rf "${tmp}"; }
trap cleanup EXIT

# Find apidiff, installing it into GOBIN (or GOPATH/bin) when missing. The
# install runs in the temp dir so that no go.mod is consulted or changed.
apidiff_bin="$(command -v apidiff || true)"
if [[ -z "${apidiff_bin}" ]]; then
	gobin="$(go env GOBIN)"
	[[ -n "${gobin}" ]] || gobin="$(go env GOPATH)/bin"
	if [[ ! -x "${gobin}/apidiff" ]]; then
		echo "apidiff.sh: installing apidiff into ${gobin}" >&2
		(cd "${tmp}" && GOWORK=off go install golang.org/x/exp/cmd/apidiff@v0.0.0-20261113113407-e3970619a1a4) ||
			die "could not install golang.org/x/exp/cmd/apidiff; check access to the Go module proxy"
	fi
	apidiff_bin="${gobin}/apidiff"
fi

# Export data of the reference, from a scratch module that requires it.
scratch="${tmp}/ref"
mkdir -p "${scratch}"
(
	cd "${scratch}"
	export GOWORK=off GOFLAGS=-mod=mod
	go mod init apidiff.scratch >/dev/null 2>&1
	go get "${ref_module}@${ref_version}" >/dev/null 2>&1 ||
		go get "${ref_module}@${ref_version}"
	"${apidiff_bin}" -w "${tmp}/old.export" "${ref_module}"
) || die "could not write the export data of ${ref_module}@${ref_version}"

# Export data of the package to check: this module's root package, or the
# reference again for --self-check. apidiff must run in the module's own
# directory to read its source rather than the module cache.
if "${self_check}"; then
	new_label="${ref_module}@${ref_version} (self-check)"
	(cd "${scratch}" && GOWORK=off "${apidiff_bin}" -w "${tmp}/new.export" "${ref_module}") ||
		die "could not write the export data of ${ref_module} a second time"
else
	new_label="${new_module} (${repo_root})"
	(cd "${repo_root}" && "${apidiff_bin}" -w "${tmp}/new.export" "${new_module}") ||
		die "could not write the export data of ${new_module}; does it build? (go build ./...)"
fi

# apidiff exits 0 whatever it finds, so the verdict comes from its report.
"${apidiff_bin}" "${tmp}/old.export" "${tmp}/new.export" >"${tmp}/report.txt" ||
	die "apidiff failed to compare the two export files"

echo "API of ${new_label}"
echo "  compared with ${ref_module}@${ref_version}:"
if [[ -s "${tmp}/report.txt" ]]; then
	cat "${tmp}/report.txt"
else
	echo "(no differences)"
fi

if grep -q '^Incompatible changes:' "${tmp}/report.txt"; then
	n="$(awk '/^Incompatible changes:/{f=1;next} /^[^-]/{f=0} f&&/^- /{n++} END{print n+0}' "${tmp}/report.txt")"
	echo "FAIL: ${n} incompatible change(s): each \"removed\" name must be added with the reference's signature, each \"changed\" one fixed." >&2
	exit 1
fi
echo "OK: no incompatible changes."
