// A Go test suite as a team would run it under `apns-lab exec -- go test ./...` (the
// book's line in docs/src/ci.md, run as printed by tests/integration/interop.rs): it finds
// the mock through the variables exec sets, makes a virtual iPhone with one app through
// the admin API, and pushes to the app's token with the helpers of main.go.
package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"testing"
)

func TestPushUnderExec(t *testing.T) {
	env := func(name string) string {
		value := os.Getenv(name)
		if value == "" {
			t.Fatalf("%s is not set: run this suite under `apns-lab exec -- go test ./...`", name)
		}
		return value
	}
	sandbox, admin := env("APNS_LAB_SANDBOX"), env("APNS_LAB_ADMIN")

	// Step 1–2: a phone with one app; the mock derives its device token.
	device := []byte(`{"apps":[{"bundle_id":"com.example.chat","environment":"sandbox"}]}`)
	resp, err := http.Post(admin+"/api/v1/devices", "application/json", bytes.NewReader(device))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var made struct {
		Apps []struct {
			Token string `json:"token"`
		} `json:"apps"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&made); err != nil || resp.StatusCode != 201 || len(made.Apps) != 1 {
		t.Fatalf("POST /api/v1/devices: %d %v %+v", resp.StatusCode, err, made)
	}

	var dials int32
	client, err := newClient(env("APNS_LAB_CA_FILE"), &dials)
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := providerToken(env("APNS_LAB_KEY_FILE"), env("APNS_LAB_KEY_ID"), env("APNS_LAB_TEAM_ID"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := push(client, sandbox, jwt, "com.example.chat", made.Apps[0].Token)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != 200 || got.Proto != "HTTP/2.0" || got.ApnsID == "" {
		t.Fatalf("the push: %+v", got)
	}
}
