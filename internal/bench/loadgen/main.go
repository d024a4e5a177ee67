// Command loadgen is the serve benchmark's load generator: it requests a
// list of URLs (one per line on stdin) round-robin, with -c concurrent
// clients, -n requests in all, and prints one JSON line: requests, errors,
// seconds, requests per second, p50 and p99 latency in milliseconds, and the
// CPU time the generator itself spent (user and system), so that the
// benchmark can tell the client's share (its TLS) from the servers'. The
// benchmark runs it inside a container of the stack, so that the
// service direct and nginx are asked from the same place.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 2000, "requests in all")
	c := flag.Int("c", 8, "concurrent clients")
	ca := flag.String("ca", "", "PEM file of the CA to trust for https")
	host := flag.String("host", "", "Host header and TLS server name")
	h2 := flag.Bool("h2", false, "allow HTTP/2 over TLS (all clients then share one connection); off, each client has its own HTTP/1.1 connection, as on the direct path")
	gzip := flag.Bool("gzip", true, "ask for gzip (Accept-Encoding: gzip), as browsers and QGIS do; off asks for the bytes as they are")
	flag.Parse()
	var urls []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "" {
			urls = append(urls, sc.Text())
		}
	}
	if len(urls) == 0 {
		fmt.Fprintln(os.Stderr, "loadgen: no URLs on stdin")
		os.Exit(2)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *c, TLSClientConfig: &tls.Config{ServerName: *host}, ForceAttemptHTTP2: *h2}
	tr.DisableCompression = !*gzip
	if !*h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig.RootCAs = pool
	}
	cl := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	lat := make([]time.Duration, *n)
	var next, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, urls[int(i)%len(urls)], nil)
				if *host != "" {
					req.Host = *host
				}
				t0 := time.Now()
				res, err := cl.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s", res.Status)
					}
				}
				lat[i] = time.Since(t0)
				if err != nil {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	json.NewEncoder(os.Stdout).Encode(map[string]float64{
		"requests": float64(*n), "errors": float64(errs.Load()), "seconds": secs,
		"rps": float64(*n) / secs, "p50_ms": ms(0.5), "p99_ms": ms(0.99),
		"cpu_ms": float64(cpu.Microseconds()) / 1000,
	})
}
