// Peer benchmark: julienschmidt/httprouter (Debian's golang-github-julienschmidt-httprouter-dev)
// on the same 203 GitHub API routes as khz_route_bench, read from ../github_routes.hpp so the
// tables cannot drift. Run with bench/route/peer_httprouter/run.sh.
package peer

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/julienschmidt/httprouter"
)

type route struct{ method, path string }

func loadRoutes(tb testing.TB) []route {
	src, err := os.ReadFile("../github_routes.hpp")
	if err != nil {
		tb.Fatal(err)
	}
	re := regexp.MustCompile(`\{"([A-Z]+)", "([^"]+)"\}`)
	var routes []route
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		routes = append(routes, route{m[1], m[2]})
	}
	if len(routes) != 203 {
		tb.Fatalf("expected 203 routes, read %d", len(routes))
	}
	return routes
}

// The same concrete paths as the C++ benchmark: ":name" -> "name1", "*name" -> "a/b".
func concrete(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = s[1:] + "1"
		} else if strings.HasPrefix(s, "*") {
			segs[i] = "a/b"
		}
	}
	return strings.Join(segs, "/")
}

func noop(http.ResponseWriter, *http.Request, httprouter.Params) {}

func build(tb testing.TB) (*httprouter.Router, []route) {
	routes := loadRoutes(tb)
	r := httprouter.New()
	for _, rt := range routes {
		r.Handle(rt.method, rt.path, noop)
	}
	return r, routes
}

func lookupOne(b *testing.B, method, path string, wantParams int) {
	r, _ := build(b)
	h, ps, _ := r.Lookup(method, path)
	if h == nil || len(ps) != wantParams {
		b.Fatalf("unexpected lookup result for %s", path)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, ps, _ = r.Lookup(method, path)
	}
	_ = h
	_ = ps
}

func BenchmarkHttpRouterGithubStatic(b *testing.B) { lookupOne(b, "GET", "/user/repos", 0) }
func BenchmarkHttpRouterGithubParam(b *testing.B) {
	lookupOne(b, "GET", "/repos/julienschmidt/httprouter/issues/42", 3)
}

func BenchmarkHttpRouterGithubAll(b *testing.B) {
	r, routes := build(b)
	paths := make([]string, len(routes))
	for i, rt := range routes {
		paths[i] = concrete(rt.path)
		if h, _, _ := r.Lookup(rt.method, paths[i]); h == nil {
			b.Fatalf("no match for %s %s", rt.method, paths[i])
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, rt := range routes {
			r.Lookup(rt.method, paths[j])
		}
	}
	// ns/op is per pass over all routes: divide by 203 for ns per lookup.
}
