// Command api answers with its build information and arguments as JSON.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"

	"example.com/multi/internal/greeting"
)

var commit = "unknown"

func main() {
	mode := flag.String("mode", "default", "how to run")
	flag.Parse()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8081"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"greeting": greeting.For("api"),
			"commit":   commit,
			"mode":     *mode,
		})
	})
	log.Printf("api listening on 127.0.0.1:%s", port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, nil))
}
