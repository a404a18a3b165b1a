# Rapport — see README.md. Every target works on a fresh clone.
GO      ?= go
BIN     := bin/rapport
DATA    ?= ./rapport-data
ADDR    ?= 127.0.0.1:8080
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build run test race bench lint check-deps fuzz clean adversarial

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/rapport

# run: fill $(DATA) with the demo shop if it is empty, train a model if there
# is none, make an admin, a storefront and a browser key (printed), and serve on $(ADDR).
run: build
	@$(BIN) demo --data $(DATA) --if-empty
	@$(BIN) train --data $(DATA) --if-none
	@admin=$$($(BIN) keys create --data $(DATA) --role admin --name make-run-admin --replace | tail -n 1) && \
	 storefront=$$($(BIN) keys create --data $(DATA) --role storefront --name make-run-storefront --replace | tail -n 1) && \
	 browser=$$($(BIN) keys create --data $(DATA) --role browser --name make-run-browser --replace | tail -n 1) && \
	 echo && echo "API keys (new each run; paste these into another shell; the browser key is the one a page may carry):" && \
	 echo "  export RAPPORT_ADMIN_KEY=$$admin" && \
	 echo "  export RAPPORT_STOREFRONT_KEY=$$storefront" && \
	 echo "  export RAPPORT_BROWSER_KEY=$$browser" && echo
	$(BIN) serve --data $(DATA) --addr $(ADDR)

# test: every test on Badger, then the store-backed suites again on Redis
# (REDIS_URL, default the local server; each test in its own namespace).
REDIS_URL ?= redis://127.0.0.1:6379/0
REDIS_SUITES := ./store ./api ./features ./jobs ./engine/recommend
test: lint check-deps
	$(GO) test ./...
	@redis-cli -u $(REDIS_URL) ping >/dev/null 2>&1 || { echo "make test: no Redis at $(REDIS_URL) for the Redis suites (apt-get install redis-server, or set REDIS_URL)" >&2; exit 1; }
	RAPPORT_TEST_STORE=$(REDIS_URL) $(GO) test -count=1 $(REDIS_SUITES)

# adversarial: the trust review's findings (issue 13), one test each, on
# Badger and then on Redis (the browser one needs Chromium).
adversarial:
	$(GO) test -count=1 -run Adversarial ./...
	RAPPORT_TEST_STORE=$(REDIS_URL) $(GO) test -count=1 -run Adversarial $(REDIS_SUITES)

# race: the packages with concurrency of their own, under the race detector.
race:
	$(GO) test -race ./store ./api ./jobs ./features ./engine/recommend ./engine/model ./cmd/rapport

# bench: every benchmark. The figures the issues ask for: BenchmarkALSIteration
# (s/iteration, 64 factors, 1M observations), BenchmarkTrainOnlineRetail
# (s/train), BenchmarkImportOnlineRetail (rows/s), BenchmarkIngest (events/s).
# The Online Retail ones skip without ../shared/datasets.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	 if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

check-deps:
	@bash .ci/check-deps

# fuzz: a short run of every fuzz target (FUZZTIME per target).
FUZZTIME ?= 10s
fuzz:
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzParseEvent$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzParseAlias$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzParseItem$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzParseConsent$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzParsePreferences$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzExperiment$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine -run '^$$' -fuzz '^FuzzResolveRegion$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/importer -run '^$$' -fuzz '^FuzzImportCSV$$' -fuzztime $(FUZZTIME)
	$(GO) test ./api -run '^$$' -fuzz '^FuzzUserToken$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
