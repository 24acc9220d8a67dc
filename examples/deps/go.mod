module example.com/deps

go 1.24.0

require (
	github.com/go-chi/chi/v5 v5.2.3
	github.com/google/uuid v1.6.0
	golang.org/x/sync v0.18.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	golang.org/x/mod v0.29.0 // indirect
	golang.org/x/tools v0.38.0 // indirect
)

tool golang.org/x/tools/cmd/stringer
