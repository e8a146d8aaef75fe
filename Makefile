# botline: make run | make call | make test | make bench
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SIP ?= 127.0.0.1:5060
GO_TEST_FLAGS ?= -race -count=1 -timeout 15m

.PHONY: run build cluster cluster-call call test deps deps-sipp deps-node deps-speech deps-trunk deps-browser deps-kamailio deps-minio bench bench-capacity vet hygiene

## run: the gateway with its embedded default bot, recordings in ./recordings
run: deps-speech
	go run ./cmd/botline

build:
	go build -o bin/botline ./cmd/botline

## cluster: Kamailio in front of two botline nodes sharing a MinIO bucket (examples/cluster/run.sh)
cluster: build deps-speech deps-kamailio deps-minio
	MINIO=$(MINIO_DIR)/minio examples/cluster/run.sh

## cluster-call: one SIPp call through the cluster's Kamailio, then the recordings the bucket holds
cluster-call: deps-sipp
	sipp -sf examples/sipp/caller.xml -s +18005550199 -m 1 -i 127.0.0.1 -p 5070 \
		-timeout 30 -timeout_error -nostdin 127.0.0.1:5060 >/tmp/botline-call.log 2>&1 \
		&& echo "call completed" || { echo "call failed (is 'make cluster' running?); SIPp said:"; tail -20 /tmp/botline-call.log; exit 1; }
	@sleep 1; curl -s -H 'Authorization: Bearer cluster-token' http://127.0.0.1:8081/recordings \
		| python3 -c 'import json,sys; [print(r["resourceId"], r["chunkDocumentId"], str(r["chunkDuration"])+" ms") for r in json.load(sys.stdin)["recordings"]]'

## call: place the example SIPp call (~8 s of speech) against `make run`
call: deps-sipp
	sipp -sf examples/sipp/caller.xml -s +18005550199 -m 1 -i 127.0.0.1 -p 5070 \
		-timeout 30 -timeout_error -nostdin $(SIP) >/tmp/botline-call.log 2>&1 \
		&& echo "call completed" || { echo "call failed (is 'make run' running?); SIPp said:"; tail -20 /tmp/botline-call.log; exit 1; }
	@sleep 0.5; newest=$$(ls -t recordings/*.wav 2>/dev/null | head -1); \
	if [ -n "$$newest" ]; then echo "recording: $$newest"; echo "metadata:  $${newest%.wav}.json"; \
		id=$$(basename "$$newest" .wav); echo "download:  http://127.0.0.1:8080/recording/download/$$id"; \
	else echo "no recording in ./recordings (was 'make run' started from this directory?)"; fi

## test: everything, installing SIPp and the Node interop bot's packages when missing
test: deps hygiene vet
	go test $(GO_TEST_FLAGS) ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...

## hygiene: go.mod is tidy, git tracks only source (no binary file, no executable but
## scripts, no run leftovers: logs, captures, profiles), the import rules of
## docs/ARCHITECTURE.md hold (.ci/layers.sh) and no function is over 120 lines
hygiene:
	go mod tidy -diff
	.ci/layers.sh
	@long=$$(for f in $$(git ls-files '*.go' | grep -v '_test\.go$$'); do \
		awk -v f="$$f" '/^func /{s=NR; n=$$0} /^}/{ if (s && NR-s+1 > 120) print f ": " NR-s+1 " lines: " substr(n, 1, 70); s=0 }' "$$f"; done); \
	[ -z "$$long" ] || { echo "functions over 120 lines (split them into named steps):"; echo "$$long"; exit 1; }
	@bin=$$(comm -23 <(git ls-files | sort) <(git grep -I -l -e '' | sort)); \
	exe=$$(git ls-files -s | awk '$$1 == "100755" {print $$4}' | grep -v -E '^\.ci/|\.sh$$'); \
	junk=$$(git ls-files | grep -E '(\.log|\.pcap|\.prof|\.test|\.wav)$$' | grep -v -E '(^|/)testdata/'); \
	bad=$$(printf '%s\n' $$bin $$exe $$junk | sed '/^$$/d' | sort -u); \
	[ -z "$$bad" ] || { echo "tracked files that are not source (git rm --cached them; .gitignore keeps them out):"; echo "$$bad"; exit 1; }
	@missing=$$(grep -oE '[a-z]+(/[a-zA-Z0-9_.-]+)+(\.go|/)' docs/ARCHITECTURE.md | sort -u | while read -r p; do [ -e "$$p" ] || echo "$$p"; done); \
	[ -z "$$missing" ] || { echo "docs/ARCHITECTURE.md names files that do not exist:"; echo "$$missing"; exit 1; }
	@unnamed=$$(for f in $$(git ls-files '*.go' | grep -v -E '_test\.go$$|(^|/)doc\.go$$'); do \
		grep -q -F "$$f" docs/ARCHITECTURE.md || grep -q -F "\`$$(dirname $$f)/\`" docs/ARCHITECTURE.md || echo "$$f"; done); \
	[ -z "$$unnamed" ] || { echo "docs/ARCHITECTURE.md does not name these files (or their directory):"; echo "$$unnamed"; exit 1; }

deps: deps-sipp deps-node deps-speech deps-trunk deps-browser deps-kamailio deps-minio

## deps-minio: the real MinIO server of the object-store tests, built from the Go module proxy
## (~8 min on 2 cores the first time) into a cache outside the clone, which every clone reuses
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_DIR := $(HOME)/.cache/botline/minio-$(MINIO_VERSION)
export BOTLINE_TEST_MINIO := $(MINIO_DIR)/minio
deps-minio:
	@[ -x $(MINIO_DIR)/minio ] || { echo "building MinIO $(MINIO_VERSION) into $(MINIO_DIR) (first time only, ~8 min)"; \
		GOBIN=$(MINIO_DIR) go install github.com/minio/minio@$(MINIO_VERSION); }

## deps-kamailio: Debian's kamailio (with its dispatcher module), the proxy of the cluster test
deps-kamailio:
	@command -v kamailio >/dev/null || [ -x /usr/sbin/kamailio ] || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq kamailio; }

## deps-browser: Debian's chromium, which the recordings page's test drives headless (chromedp)
deps-browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

## deps-trunk: the real peers of the SIP security tests: baresip (TLS, SRTP, digest), sipvicious
## (svwar, svmap), and iproute2 for the network namespace they run in
TRUNK_PKGS := baresip-core sipvicious iproute2
deps-trunk:
	@command -v baresip >/dev/null && command -v svwar >/dev/null && command -v ip >/dev/null \
		|| { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(TRUNK_PKGS); }

## deps-speech: the offline voice (flite, espeak-ng, pocketsphinx + en-us model) and tcpdump for the RTP captures of the tests
SPEECH_PKGS := flite espeak-ng pocketsphinx pocketsphinx-en-us tcpdump
deps-speech:
	@command -v flite >/dev/null && command -v espeak-ng >/dev/null && command -v pocketsphinx_continuous >/dev/null \
		&& [ -d /usr/share/pocketsphinx/model/en-us ] && command -v tcpdump >/dev/null \
		|| { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(SPEECH_PKGS); }

deps-sipp:
	@command -v sipp >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq sip-tester; }

deps-node:
	@command -v node >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	@[ -d bots/interop/node_modules/botbuilder ] || (cd bots/interop && npm ci --no-audit --no-fund)
	@[ -d bots/ivr-js/node_modules/botbuilder ] || (cd bots/ivr-js && npm ci --no-audit --no-fund)
	@[ -d examples/webhook-consumer/node_modules/standardwebhooks ] || (cd examples/webhook-consumer && npm ci --no-audit --no-fund)

## bench: micro-benchmarks (media path, SIP, activities, recorder)
bench:
	go test -run '^$$' -bench . -benchmem ./...

## bench-capacity: step concurrent recorded calls until loss/late or failures; writes docs/PERFORMANCE.md.
## The gateway runs on CPU 0, the generator on the others (taskset). CAPACITY_COMPARE=path/to/other/botline
## runs that build too at every step, right after this one, and the table gives both and their ratio.
CAPACITY_STEPS ?= 100,250,500,1000,1250,1500,2000,3000
CAPACITY_HOLD ?= 20s
CAPACITY_COMPARE ?=
bench-capacity:
	go build -o bin/botline ./cmd/botline
	go build -o bin/botline-load ./cmd/botline-load
	bin/botline-load capacity --botline bin/botline --steps $(CAPACITY_STEPS) --hold $(CAPACITY_HOLD) --out docs/PERFORMANCE.md \
		$(if $(CAPACITY_COMPARE),--compare $(CAPACITY_COMPARE))
