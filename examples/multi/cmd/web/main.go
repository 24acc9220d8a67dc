// Command web serves the files in its kodata directory and a greeting.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"example.com/multi/internal/greeting"
)

var version = "dev"

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(os.Getenv("KO_DATA_PATH")))))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		wd, _ := os.Getwd()
		fmt.Fprintf(w, "%s version=%s wd=%s\n", greeting.For("web"), version, wd)
	})
	log.Printf("web %s listening on 127.0.0.1:%s", version, port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, nil))
}
