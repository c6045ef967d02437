#!/bin/sh
# Runs the httprouter peer benchmark. Needs Debian's golang-go and
# golang-github-julienschmidt-httprouter-dev (GOPATH mode, no network).
set -eu
cd "$(dirname "$0")"
GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= go test -run '^$' -bench . -benchmem -count "${COUNT:-5}" .
