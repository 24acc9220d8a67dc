package main

import (
	"fmt"
	"net/http"
)

// recorder is the least http.ResponseWriter the self-check needs.
type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(status int)      { r.status = status }

type routeError struct {
	path   string
	status int
}

func (e *routeError) Error() string { return fmt.Sprintf("route %s answered %d", e.path, e.status) }
