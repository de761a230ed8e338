// Command bare is the baseline of scripts/bench.sh: a bare Gin engine (no
// middleware, no gzip wrapper, plain net/http server) that answers
// GET /v1/products/:id with the exact bytes and headers the real service
// sent for one product, so wrk can measure what the service's own work
// costs on top of Gin and net/http.
//
//	go run ./scripts/bare -addr 127.0.0.1:18081 -from http://127.0.0.1:18080/v1/products/ID
//
// At start it fetches the product once from the running service (-from),
// and once more with If-None-Match to copy the 304's headers too. It then
// answers 304 with those headers when If-None-Match equals the ETag (a
// plain string comparison), and 200 with the body otherwise.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address")
	from := flag.String("from", "", "URL of one product on the running service, e.g. http://127.0.0.1:8080/v1/products/<id>")
	flag.Parse()
	if *from == "" {
		fmt.Fprintln(os.Stderr, "bare: -from is required")
		os.Exit(2)
	}
	ok, err := fetch(*from, "", http.StatusOK)
	if err != nil {
		log.Fatalf("bare: %v", err)
	}
	etag := ok.header.Get("ETag")
	if etag == "" {
		log.Fatalf("bare: %s has no ETag", *from)
	}
	nm, err := fetch(*from, etag, http.StatusNotModified)
	if err != nil {
		log.Fatalf("bare: %v", err)
	}
	okHeaders, nmHeaders := pairs(ok.header), pairs(nm.header)
	contentType := ok.header.Get("Content-Type")
	body := ok.body

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/v1/products/:id", func(c *gin.Context) {
		if c.GetHeader("If-None-Match") == etag {
			for _, kv := range nmHeaders {
				c.Header(kv[0], kv[1])
			}
			c.Status(http.StatusNotModified)
			return
		}
		for _, kv := range okHeaders {
			c.Header(kv[0], kv[1])
		}
		c.Data(http.StatusOK, contentType, body)
	})
	srv := &http.Server{Addr: *addr, Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		_ = srv.Close()
	}()
	log.Printf("bare: serving %d bytes (ETag %s) on %s", len(body), etag, *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("bare: %v", err)
	}
}

type response struct {
	header http.Header
	body   []byte
}

func fetch(url, ifNoneMatch string, want int) (response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return response{}, err
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	if res.StatusCode != want {
		return response{}, fmt.Errorf("GET %s (If-None-Match %q): status %d, want %d", url, ifNoneMatch, res.StatusCode, want)
	}
	return response{header: res.Header, body: body}, nil
}

// pairs lists the headers a handler sets itself: net/http adds Date and
// Content-Length, c.Data sets Content-Type.
func pairs(h http.Header) [][2]string {
	var out [][2]string
	for k, vs := range h {
		switch k {
		case "Date", "Content-Length", "Content-Type":
			continue
		}
		for _, v := range vs {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}
