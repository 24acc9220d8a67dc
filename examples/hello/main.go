// Command hello is rko's example program: an HTTP server that greets the
// caller and serves the static files ko puts in $KO_DATA_PATH.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	dataPath := os.Getenv("KO_DATA_PATH")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from rko! (uid %d)\n", os.Getuid())
	})
	if dataPath != "" {
		http.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(dataPath))))
	}
	addr := "127.0.0.1:" + port
	if host := os.Getenv("HOST"); host != "" {
		addr = host + ":" + port
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
