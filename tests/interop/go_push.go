// Pushes to a running apns-lab mock with Go's standard library alone: net/http's own
// HTTP/2 (the same code sideshow/apns2 runs, as golang.org/x/net/http2) and an ES256
// provider token from crypto/ecdsa. The only changes a user makes: the host and port from
// the ready line, and a transport whose RootCAs hold the mock's CA. The one trap: a
// transport given its own TLS config offers only HTTP/1.1 unless ForceAttemptHTTP2 is
// set, then reads the server's HTTP/2 SETTINGS frame as a reply and fails with
// `malformed HTTP response "\x00\x00\x1e\x04..."`.
//
// Usage: go run go_push.go READY_JSON DEVICE_TOKEN TOPIC
// Prints one JSON object: a push's answer, an unknown token's, and how 100 concurrent
// pushes went (all on one connection, as HTTP/2 multiplexes them).
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type answer struct {
	Proto  string `json:"proto"`
	Status int    `json:"status"`
	ApnsID string `json:"apns_id"`
	Reason string `json:"reason,omitempty"`
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// providerToken is the JWT APNs reads: ES256, kid and iss, iat now; the signature r and s
// as 32 bytes each (RFC 7518).
func providerToken(keyFile, keyID, teamID string) string {
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		fail("the .p8", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		fail("the .p8", fmt.Errorf("no PEM block"))
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		fail("the .p8", err)
	}
	key := parsed.(*ecdsa.PrivateKey)
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": keyID})
	claims, _ := json.Marshal(map[string]any{"iss": teamID, "iat": time.Now().Unix()})
	signed := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		fail("signing", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + b64(sig)
}

func main() {
	var ready map[string]any
	if err := json.Unmarshal([]byte(os.Args[1]), &ready); err != nil {
		fail("the ready line", err)
	}
	token, topic := os.Args[2], os.Args[3]
	caPEM, err := os.ReadFile(ready["ca_file"].(string))
	if err != nil {
		fail("the CA", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)

	var dials int32
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				atomic.AddInt32(&dials, 1)
				return dialer.DialContext(ctx, network, addr)
			},
		},
	}
	jwt := providerToken(ready["key_file"].(string), ready["key_id"].(string), ready["team_id"].(string))
	payload := []byte(`{"aps":{"alert":{"title":"Go","body":"From net/http"}}}`)

	push := func(device string) answer {
		req, _ := http.NewRequest("POST", ready["sandbox"].(string)+"/3/device/"+device, bytes.NewReader(payload))
		req.Header.Set("authorization", "bearer "+jwt)
		req.Header.Set("apns-topic", topic)
		req.Header.Set("apns-push-type", "alert")
		resp, err := client.Do(req)
		if err != nil {
			fail("push", err)
		}
		defer resp.Body.Close()
		var body struct{ Reason string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return answer{resp.Proto, resp.StatusCode, resp.Header.Get("apns-id"), body.Reason}
	}

	first := push(token)
	unknown := push(strings.Repeat("ab", 32))
	var wg sync.WaitGroup
	var ok int32
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := push(token); a.Status == 200 && a.Proto == "HTTP/2.0" {
				atomic.AddInt32(&ok, 1)
			}
		}()
	}
	wg.Wait()
	out, _ := json.Marshal(map[string]any{"ok": first, "unknown_token": unknown, "concurrent_ok": ok, "connections": dials})
	fmt.Println(string(out))
}
