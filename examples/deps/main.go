// Command deps is rko's example with real third-party modules: an HTTP
// service routed by chi that gives each request an id from google/uuid,
// answers in YAML, and checks its handlers concurrently with errgroup at
// start. Real ko users have dependencies; the tests build this one to check
// go list, fingerprints, SBOMs and the cache on them.
package main

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"gopkg.in/yaml.v3"
)

type greeting struct {
	Message string `yaml:"message"`
	Request string `yaml:"request"`
	Name    string `yaml:"name,omitempty"`
}

func router() http.Handler {
	r := chi.NewRouter()
	r.Get("/", func(w http.ResponseWriter, req *http.Request) {
		reply(w, greeting{Message: "Hello from rko!", Request: uuid.NewString()})
	})
	r.Get("/hello/{name}", func(w http.ResponseWriter, req *http.Request) {
		reply(w, greeting{Message: "Hello", Request: uuid.NewString(), Name: chi.URLParam(req, "name")})
	})
	return r
}

func reply(w http.ResponseWriter, g greeting) {
	w.Header().Set("Content-Type", "application/yaml")
	if err := yaml.NewEncoder(w).Encode(g); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// selfCheck makes sure the routes are registered before serving.
func selfCheck(ctx context.Context, h http.Handler) error {
	g, _ := errgroup.WithContext(ctx)
	for _, path := range []string{"/", "/hello/check"} {
		g.Go(func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
			if err != nil {
				return err
			}
			rec := &recorder{header: http.Header{}}
			h.ServeHTTP(rec, req)
			if rec.status != 0 && rec.status != http.StatusOK {
				return &routeError{path: path, status: rec.status}
			}
			return nil
		})
	}
	return g.Wait()
}

func main() {
	h := router()
	if err := selfCheck(context.Background(), h); err != nil {
		log.Fatal(err)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	addr := os.Getenv("HOST") + ":" + port
	if os.Getenv("HOST") == "" {
		addr = "127.0.0.1:" + port
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, h))
}
