#!/usr/bin/env bash
# The import rules of docs/ARCHITECTURE.md ("Rules the layout keeps"),
# checked with go list: each rule names packages and what none of them may
# depend on, directly or not. Run by `make hygiene`.
set -euo pipefail
cd "$(dirname "$0")/.."
M=github.com/botline/botline
fail=0
# rule PACKAGES FORBIDDEN...: FORBIDDEN are our top-level directories (or
# deeper paths); a package never counts as depending on itself.
rule() {
	local pkgs=$1
	shift
	local re
	re="^$M/($(IFS='|'; echo "$*"))(/|$)"
	local out
	out=$(go list -f '{{.ImportPath}}{{range .Deps}} {{.}}{{end}}' "$pkgs" |
		awk -v re="$re" '{ for (i = 2; i <= NF; i++) if ($i ~ re) print $1 " -> " $i }')
	if [ -n "$out" ]; then
		echo "layering: $pkgs may not import $*:"
		echo "${out//$M\//}"
		fail=1
	fi
}
all=(activity bots channel cmd internal media recorder recordingsapi sip speech)
without() { local x; for x in "${all[@]}"; do [[ " $* " == *" $x "* ]] || echo "$x"; done; }

rule ./activity/... $(without)                   # the schema imports nothing of ours
rule ./internal/... $(without internal)          # small helpers: nothing above them
rule ./media/... $(without internal media)      # media knows nothing of SIP dialogs
rule ./speech/... $(without internal speech)
rule ./sip/... $(without internal media sip)     # signalling: media below it, nothing above
rule ./recorder/... $(without internal recorder)
rule ./recordingsapi/... $(without internal recorder)
rule ./channel/streaming/... $(without internal activity)
rule ./channel/... $(without internal activity media sip speech recorder recordingsapi channel)
rule ./bots/... $(without internal activity bots)
exit $fail
