package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/session/internal/fakeidp"
)

// TestDeviceCodeKeepsTheDeviceCode: DeviceAuth's DeviceCode carries the
// device code to DeviceToken, and prints it nowhere: every fmt verb and
// JSON show what the user needs only.
func TestDeviceCodeKeepsTheDeviceCode(t *testing.T) {
	const device = "dc-SECRET-4f2a"
	var polled string
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		req.ParseForm()
		if req.URL.Path == "/device" {
			return fakeidp.Respond(req, 200, "application/json", `{"device_code":"`+device+`","user_code":"WDJB-MJHT",`+
				`"verification_uri":"https://auth.example/device","expires_in":600}`, ""), nil
		}
		polled = req.PostForm.Get("device_code")
		return fakeidp.Respond(req, 400, "application/json", `{"error":"authorization_pending"}`, ""), nil
	})
	c, err := NewClient(Endpoint{TokenURL: testURL, DeviceAuthURL: "https://auth.example/device", ClientID: "cli",
		HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	code, err := c.DeviceAuth(context.Background(), nil, nil)
	if err != nil || code.UserCode != "WDJB-MJHT" {
		t.Fatalf("DeviceAuth = %v, %v", code, err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if out := fmt.Sprintf(verb, code); strings.Contains(out, device) || strings.Contains(out, fmt.Sprintf("%x", device)) {
			t.Errorf("%s prints the device code: %s", verb, out)
		}
	}
	if b, _ := json.Marshal(code); strings.Contains(string(b), device) {
		t.Errorf("JSON carries the device code: %s", b)
	}
	if _, err := c.DeviceToken(context.Background(), code); err == nil || polled != device {
		t.Errorf("DeviceToken sent device_code %q (error %v), want %q", polled, err, device)
	}
	if _, err := c.DeviceToken(context.Background(), DeviceCode{UserCode: "X"}); err == nil {
		t.Error("DeviceToken of a DeviceCode not from DeviceAuth sent a request")
	}
}
