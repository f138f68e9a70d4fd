// Pushes to a running apns-lab mock with Go's standard library alone: net/http's own
// HTTP/2 (the same code sideshow/apns2 runs, as golang.org/x/net/http2) and an ES256
// provider token from crypto/ecdsa. The only changes a user makes: the host and port from
// the ready line, and a transport whose RootCAs hold the mock's CA. The one trap: a
// transport given its own TLS config offers only HTTP/1.1 unless ForceAttemptHTTP2 is
// set, then reads the server's HTTP/2 SETTINGS frame as a reply and fails with
// `malformed HTTP response "\x00\x00\x1e\x04..."`.
//
// Usage: go run . READY_JSON DEVICE_TOKEN TOPIC   (in tests/interop/go)
// Prints one JSON object: a push's answer, an unknown token's, and how 100 concurrent
// pushes went (all on one connection, as HTTP/2 multiplexes them). The same helpers
// serve exec_test.go, a test suite run under `apns-lab exec -- go test ./...`.
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

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// providerToken is the JWT APNs reads: ES256, kid and iss, iat now; the signature r and s
// as 32 bytes each (RFC 7518).
func providerToken(keyFile, keyID, teamID string) (string, error) {
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return "", fmt.Errorf("%s: no PEM block", keyFile)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return "", fmt.Errorf("%s: not an EC key", keyFile)
	}
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": keyID})
	claims, _ := json.Marshal(map[string]any{"iss": teamID, "iat": time.Now().Unix()})
	signed := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + b64(sig), nil
}

// newClient trusts the CA in caFile and speaks HTTP/2; it counts the connections it dials.
func newClient(caFile string, dials *int32) (*http.Client, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				atomic.AddInt32(dials, 1)
				return dialer.DialContext(ctx, network, addr)
			},
		},
	}, nil
}

// push sends an alert to device at APNs' base URL and reads the answer.
func push(client *http.Client, base, jwt, topic, device string) (answer, error) {
	payload := []byte(`{"aps":{"alert":{"title":"Go","body":"From net/http"}}}`)
	req, err := http.NewRequest("POST", base+"/3/device/"+device, bytes.NewReader(payload))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("authorization", "bearer "+jwt)
	req.Header.Set("apns-topic", topic)
	req.Header.Set("apns-push-type", "alert")
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var body struct{ Reason string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return answer{resp.Proto, resp.StatusCode, resp.Header.Get("apns-id"), body.Reason}, nil
}

func main() {
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
	var ready struct {
		Sandbox string `json:"sandbox"`
		CAFile  string `json:"ca_file"`
		KeyFile string `json:"key_file"`
		KeyID   string `json:"key_id"`
		TeamID  string `json:"team_id"`
	}
	if err := json.Unmarshal([]byte(os.Args[1]), &ready); err != nil {
		fail("the ready line", err)
	}
	token, topic := os.Args[2], os.Args[3]
	var dials int32
	client, err := newClient(ready.CAFile, &dials)
	if err != nil {
		fail("the CA", err)
	}
	jwt, err := providerToken(ready.KeyFile, ready.KeyID, ready.TeamID)
	if err != nil {
		fail("the provider token", err)
	}
	send := func(device string) answer {
		a, err := push(client, ready.Sandbox, jwt, topic, device)
		if err != nil {
			fail("push", err)
		}
		return a
	}

	first := send(token)
	unknown := send(strings.Repeat("ab", 32))
	var wg sync.WaitGroup
	var ok int32
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := send(token); a.Status == 200 && a.Proto == "HTTP/2.0" {
				atomic.AddInt32(&ok, 1)
			}
		}()
	}
	wg.Wait()
	out, _ := json.Marshal(map[string]any{"ok": first, "unknown_token": unknown, "concurrent_ok": ok, "connections": dials})
	fmt.Println(string(out))
}
