package audit

import (
	"crypto/sha256"
	"encoding/hex"
)

// FingerprintLen is the number of hex digits in a token fingerprint: 48 bits,
// enough to tell the tokens of one session apart in a log, far too few to
// help anyone recover a token.
const FingerprintLen = 12

// Fingerprint returns a short, stable identifier of a secret (an access or
// refresh token) for logs and audit records: the first FingerprintLen hex
// digits of its SHA-256, prefixed "sha256:". It returns "" for "". The token
// itself must never be logged; its fingerprint may.
func Fingerprint(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:FingerprintLen/2])
}
