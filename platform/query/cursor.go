package query

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"sync"
	"time"

	"example.com/productapi/platform/apperr"
)

// Cursor wire format (version 1), before base64url without padding:
//
//	version  1 byte  (1)
//	binding  8 bytes SHA-256(binding)[:8]
//	type     1 byte  's' string | 'i' int64 | 't' time
//	value    's': uvarint length + bytes
//	         'i': zigzag varint
//	         't': zigzag varint Unix seconds + uvarint nanoseconds (UTC)
//	id       the remaining bytes up to the MAC
//	mac      16 bytes HMAC-SHA256(secret, everything above)[:16]
//
// The binding is stored as a short hash, not verbatim, so cursors stay
// small whatever the filters; the MAC covers it, so only a cursor minted
// for this binding can carry its hash, and a mismatch can be reported as
// "other sort or filter" rather than "tampered". A binary payload (rather
// than JSON) keeps a typical cursor (time + UUID) under 100 characters and
// decoding free of reflection.
const (
	cursorVersion = 1
	bindingLen    = 8
	macLen        = 16 // 128 bits
	// MaxCursorLen bounds the encoded cursor a client may send, so a
	// hostile one cannot make us decode and MAC megabytes. It also bounds
	// sort values: 1024 characters carry 768 bytes, so a string sort value
	// longer than about 740 bytes minus the id's length makes a cursor that
	// Decode rejects (keep string sort columns short, e.g. names <= 200
	// runes of at most 3 bytes).
	MaxCursorLen = 1024
	minRawLen    = 1 + bindingLen + 1 + 1 + macLen // empty string, empty id
)

var cursorB64 = base64.RawURLEncoding.Strict()

var (
	errCursorInvalid = apperr.Invalid(CodeCursor, "cursor is invalid; use next_cursor exactly as returned, or omit it to start again")
	errCursorBinding = apperr.Invalid(CodeCursor, "cursor was issued for a different sort or filter; repeat the original sort and filters or omit the cursor to start again")
)

// Keyset is the position a cursor encodes: the last row's sort value
// (string, int64 or time.Time in UTC) and its id.
type Keyset struct {
	Value any
	ID    string
}

// Codec signs and verifies cursors with HMAC-SHA256. It is safe for
// concurrent use; all instances of the service must share the secret.
type Codec struct {
	scratch  sync.Pool // of *scratch
	previous [][]byte  // retired secrets: still verify, never sign
}

// scratch is the per-call working memory, pooled so that encoding and
// decoding allocate little more than the strings they return. Keeping the
// HMAC state here also saves its setup (two SHA-256 blocks) on every call.
type scratch struct {
	mac  hash.Hash
	raw  [MaxCursorLen]byte // decoded payload (needs 3/4) or payload to encode
	text [MaxCursorLen]byte // cursor text, in or out
	bind [256]byte          // binding bytes for hashing; longer ones allocate
	sum  [sha256.Size]byte
}

// NewCodec returns a codec keyed by secret (use a dedicated, derived key of
// 32 random bytes). Cursors signed with one of the previous secrets still
// verify, so rotating the signing key does not break a client that is half
// way through a listing. An empty secret panics: it would make cursors
// forgeable.
func NewCodec(secret []byte, previous ...[]byte) *Codec {
	if len(secret) == 0 {
		panic("query: NewCodec needs a non-empty secret")
	}
	key := append([]byte(nil), secret...) // the caller may reuse its slice
	c := &Codec{}
	for _, p := range previous {
		if len(p) == 0 {
			panic("query: NewCodec needs non-empty previous secrets")
		}
		c.previous = append(c.previous, append([]byte(nil), p...))
	}
	c.scratch.New = func() any { return &scratch{mac: hmac.New(sha256.New, key)} }
	return c
}

// macOf returns the truncated HMAC of msg, in s.sum.
func (s *scratch) macOf(msg []byte) []byte {
	s.mac.Reset()
	s.mac.Write(msg)
	return s.mac.Sum(s.sum[:0])[:macLen]
}

func (s *scratch) bindingHash(binding string) []byte {
	h := sha256.Sum256(append(s.bind[:0], binding...))
	return h[:bindingLen:bindingLen]
}

// Encode makes the cursor of the page after the row with sortValue and id,
// bound to binding (Params.Binding()). sortValue must be a string, any
// integer type (stored as int64) or a time.Time (stored as UTC with
// nanoseconds); anything else is a programming error and panics.
func (c *Codec) Encode(binding string, sortValue any, id string) string {
	s := c.scratch.Get().(*scratch)
	defer c.scratch.Put(s)
	raw := append(s.raw[:0], cursorVersion)
	raw = append(raw, s.bindingHash(binding)...)
	raw = appendValue(raw, sortValue)
	raw = append(raw, id...)
	raw = append(raw, s.macOf(raw)...)
	n := cursorB64.EncodedLen(len(raw))
	text := s.text[:0]
	if n > len(s.text) { // over-long (Decode will refuse it), still well-formed
		text = make([]byte, n)
	}
	text = text[:n]
	cursorB64.Encode(text, raw)
	return string(text)
}

func appendValue(b []byte, v any) []byte {
	var n int64
	switch v := v.(type) {
	case string:
		b = append(b, 's')
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(b, v...)
	case time.Time:
		b = append(b, 't')
		b = binary.AppendVarint(b, v.Unix())
		return binary.AppendUvarint(b, uint64(v.Nanosecond()))
	case int64:
		n = v
	case int:
		n = int64(v)
	case int32:
		n = int64(v)
	case int16:
		n = int64(v)
	case int8:
		n = int64(v)
	case uint32:
		n = int64(v)
	case uint16:
		n = int64(v)
	case uint8:
		n = int64(v)
	case uint:
		if uint64(v) > math.MaxInt64 {
			panic(fmt.Sprintf("query: cursor sort value %d overflows int64", v))
		}
		n = int64(v)
	case uint64:
		if v > math.MaxInt64 {
			panic(fmt.Sprintf("query: cursor sort value %d overflows int64", v))
		}
		n = int64(v)
	default:
		panic(fmt.Sprintf("query: unsupported cursor sort value type %T (want string, integer or time.Time)", v))
	}
	b = append(b, 'i')
	return binary.AppendVarint(b, n)
}

// Decode verifies a cursor and returns its position. The MAC is checked
// (in constant time) before anything in the payload is trusted; then the
// binding. Every failure is a KindInvalid *apperr.Error with code
// "query.cursor"; Decode never panics, whatever the input.
func (c *Codec) Decode(binding, cursor string) (Keyset, error) {
	if len(cursor) == 0 || len(cursor) > MaxCursorLen {
		return Keyset{}, errCursorInvalid
	}
	// The base64 decoder skips \r and \n; checking the alphabet first makes
	// the encoding canonical (one cursor string per position).
	for i := 0; i < len(cursor); i++ {
		if !isB64URL(cursor[i]) {
			return Keyset{}, errCursorInvalid
		}
	}
	s := c.scratch.Get().(*scratch)
	defer c.scratch.Put(s)
	text := append(s.text[:0], cursor...)
	n, err := cursorB64.Decode(s.raw[:], text)
	if err != nil || n < minRawLen {
		return Keyset{}, errCursorInvalid
	}
	raw := s.raw[:n]
	body, tag := raw[:n-macLen], raw[n-macLen:]
	if body[0] != cursorVersion {
		return Keyset{}, errCursorInvalid
	}
	if !hmac.Equal(s.macOf(body), tag) && !c.signedByPrevious(body, tag) {
		return Keyset{}, errCursorInvalid
	}
	if !hmac.Equal(body[1:1+bindingLen], s.bindingHash(binding)) {
		return Keyset{}, errCursorBinding
	}
	ks, err := decodePosition(body[1+bindingLen:])
	if err != nil {
		// Only reachable with a valid MAC, i.e. a bug or a leaked key.
		return Keyset{}, errCursorInvalid.Wrap(err)
	}
	return ks, nil
}

// signedByPrevious reports whether tag is body's MAC under a retired
// secret. Only cursors that fail the current key get here (forgeries and
// cursors from before a rotation), so the HMAC setup per key is acceptable.
func (c *Codec) signedByPrevious(body, tag []byte) bool {
	for _, key := range c.previous {
		m := hmac.New(sha256.New, key)
		m.Write(body)
		if hmac.Equal(m.Sum(nil)[:macLen], tag) {
			return true
		}
	}
	return false
}

var errMalformed = errors.New("malformed cursor payload")

func decodePosition(b []byte) (Keyset, error) {
	if len(b) < 1 {
		return Keyset{}, errMalformed
	}
	kind, b := b[0], b[1:]
	var v any
	switch kind {
	case 's':
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return Keyset{}, errMalformed
		}
		v, b = string(b[k:k+int(l)]), b[k+int(l):]
	case 'i':
		n, k := binary.Varint(b)
		if k <= 0 {
			return Keyset{}, errMalformed
		}
		v, b = n, b[k:]
	case 't':
		sec, k := binary.Varint(b)
		if k <= 0 {
			return Keyset{}, errMalformed
		}
		b = b[k:]
		nsec, k := binary.Uvarint(b)
		if k <= 0 || nsec >= 1e9 {
			return Keyset{}, errMalformed
		}
		v, b = time.Unix(sec, int64(nsec)).UTC(), b[k:]
	default:
		return Keyset{}, errMalformed
	}
	return Keyset{Value: v, ID: string(b)}, nil
}

func isB64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// DecodeCursor verifies p.Cursor against p.Binding(). It returns nil, nil
// when the request has no cursor (first page).
func (p Params) DecodeCursor(c *Codec) (*Keyset, error) {
	if p.Cursor == "" {
		return nil, nil
	}
	if c == nil {
		return nil, apperr.Internal(errors.New("query: DecodeCursor called without a codec"))
	}
	ks, err := c.Decode(p.Binding(), p.Cursor)
	if err != nil {
		return nil, err
	}
	return &ks, nil
}
