package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// SecretBox encrypts small secrets at rest (TOTP seeds) with AES-256-GCM
// under a key derived from the signing key for one purpose. The ciphertext
// names the key it was sealed with ("v1.<kid>.<base64>"), so secrets sealed
// before a signing-key rotation still open while the old key is listed in
// the previous keys.
type SecretBox struct {
	purpose string
	current string
	aeads   map[string]cipher.AEAD
}

// NewSecretBox derives one AES-256 key per signing key (HMAC-SHA256 of
// purpose); the first key seals.
func NewSecretBox(purpose string, keys ...[]byte) (*SecretBox, error) {
	if len(keys) == 0 {
		return nil, errors.New("secretbox: no key")
	}
	b := &SecretBox{purpose: purpose, aeads: map[string]cipher.AEAD{}}
	for i, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte("secretbox:" + purpose))
		block, err := aes.NewCipher(m.Sum(nil))
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		kid := KeyID(k)
		if i == 0 {
			b.current = kid
		}
		b.aeads[kid] = aead
	}
	return b, nil
}

var errSealed = errors.New("secretbox: cannot open")

// Seal encrypts plaintext; the purpose is bound as associated data.
func (b *SecretBox) Seal(plaintext []byte) (string, error) {
	aead := b.aeads[b.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := aead.Seal(nonce, nonce, plaintext, []byte(b.purpose))
	return "v1." + b.current + "." + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts what Seal produced with any known key.
func (b *SecretBox) Open(sealed string) ([]byte, error) {
	parts := strings.Split(sealed, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return nil, errSealed
	}
	aead, ok := b.aeads[parts[1]]
	if !ok {
		return nil, errSealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < aead.NonceSize() {
		return nil, errSealed
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(b.purpose))
	if err != nil {
		return nil, errSealed
	}
	return pt, nil
}
