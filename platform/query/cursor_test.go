package query

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"example.com/productapi/platform/apperr"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

const testBinding = "orders?sort=-created_at&status=paid"

func TestCursorRoundTrip(t *testing.T) {
	c := NewCodec(testKey)
	berlin := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		name  string
		value any
		want  any // nil: same as value
		id    string
	}{
		{"string", "Blue mug", nil, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},
		{"empty string", "", nil, "x"},
		{"unicode string", "Tasse à café ☕ 日本", nil, "id"},
		{"string with separators", "a\x00b,c.d\n", nil, "id"},
		{"long string", strings.Repeat("n", 600), nil, "id"},
		{"int64 zero", int64(0), nil, "id"},
		{"int64 negative", int64(-1), nil, "id"},
		{"int64 min", int64(math.MinInt64), nil, "id"},
		{"int64 max", int64(math.MaxInt64), nil, "id"},
		{"int widened", 1999, int64(1999), "id"},
		{"int32 widened", int32(-7), int64(-7), "id"},
		{"uint8 widened", uint8(200), int64(200), "id"},
		{"uint64 widened", uint64(math.MaxInt64), int64(math.MaxInt64), "id"},
		{"time with nanoseconds", time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC), nil, "id"},
		{"time with microseconds", time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC), nil, "id"},
		{"time in another zone comes back UTC", time.Date(2025, 3, 4, 7, 6, 7, 1, berlin),
			time.Date(2025, 3, 4, 5, 6, 7, 1, time.UTC), "id"},
		{"time before 1970", time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC), nil, "id"},
		{"zero time", time.Time{}, nil, "id"},
		{"far future", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), nil, "id"},
		{"empty id", "v", nil, ""},
		{"id with odd bytes", int64(1), nil, "ü/\x00+=?&"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := c.Encode(testBinding, tt.value, tt.id)
			for i := 0; i < len(cur); i++ {
				if !isB64URL(cur[i]) {
					t.Fatalf("cursor %q has a non-URL-safe byte", cur)
				}
			}
			ks, err := c.Decode(testBinding, cur)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := tt.want
			if want == nil {
				want = tt.value
			}
			if wt, ok := want.(time.Time); ok {
				got, ok := ks.Value.(time.Time)
				if !ok || !got.Equal(wt) || got.Location() != time.UTC || got.Nanosecond() != wt.Nanosecond() {
					t.Errorf("value = %#v, want %v in UTC", ks.Value, wt)
				}
			} else if ks.Value != want {
				t.Errorf("value = %#v (%T), want %#v (%T)", ks.Value, ks.Value, want, want)
			}
			if ks.ID != tt.id {
				t.Errorf("id = %q, want %q", ks.ID, tt.id)
			}
			if again := c.Encode(testBinding, ks.Value, ks.ID); again != cur {
				t.Errorf("re-encoding changed the cursor: %q vs %q", again, cur)
			}
		})
	}
	t.Run("typical cursor is short", func(t *testing.T) {
		cur := c.Encode(testBinding, time.Now(), "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
		if len(cur) > 100 {
			t.Errorf("cursor is %d chars: %q", len(cur), cur)
		}
	})
}

func TestCursorTampering(t *testing.T) {
	c := NewCodec(testKey)
	cur := c.Encode(testBinding, time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), "0190a1b2-c3d4")
	raw, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("every byte, every bit", func(t *testing.T) {
		for i := range raw {
			for bit := 0; bit < 8; bit++ {
				b := append([]byte(nil), raw...)
				b[i] ^= 1 << bit
				_, err := c.Decode(testBinding, base64.RawURLEncoding.EncodeToString(b))
				if err == nil {
					t.Fatalf("byte %d bit %d flipped: accepted", i, bit)
				}
				wantInvalid(t, err, CodeCursor, "cursor is invalid")
			}
		}
	})
	t.Run("every character replaced", func(t *testing.T) {
		for i := range cur {
			for _, r := range []byte{'A', 'z', '-', '_', '0'} {
				if cur[i] == r {
					continue
				}
				bad := cur[:i] + string(r) + cur[i+1:]
				if _, err := c.Decode(testBinding, bad); err == nil {
					t.Fatalf("char %d replaced by %q: accepted", i, r)
				}
			}
		}
	})
	t.Run("every truncation", func(t *testing.T) {
		for n := 0; n < len(cur); n++ {
			if _, err := c.Decode(testBinding, cur[:n]); err == nil {
				t.Fatalf("prefix of %d chars accepted", n)
			}
		}
	})
	t.Run("extension", func(t *testing.T) {
		for _, s := range []string{"A", "AA", "AAA", "AAAA", "="} {
			_, err := c.Decode(testBinding, cur+s)
			wantInvalid(t, err, CodeCursor, "cursor is invalid")
		}
	})
}

func TestCursorRejects(t *testing.T) {
	c := NewCodec(testKey)
	valid := c.Encode(testBinding, "mug", "id-1")
	// forge signs an arbitrary payload with the right key, to reach the
	// checks that sit behind the MAC.
	s := c.scratch.Get().(*scratch)
	defer c.scratch.Put(s)
	forge := func(body ...byte) string {
		return base64.RawURLEncoding.EncodeToString(append(body, s.macOf(body)...))
	}
	bh := sha256.Sum256([]byte(testBinding))
	header := func(version byte) []byte { return append([]byte{version}, bh[:bindingLen]...) }
	tests := []struct {
		name, binding, cursor, want string
	}{
		{"empty", testBinding, "", "cursor is invalid"},
		{"garbage", testBinding, "not a cursor!", "cursor is invalid"},
		{"short garbage", testBinding, "AAAA", "cursor is invalid"},
		{"padding", testBinding, valid + "==", "cursor is invalid"},
		{"standard base64 alphabet", testBinding, strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+/", "cursor is invalid"},
		{"newline inside", testBinding, valid[:5] + "\n" + valid[5:], "cursor is invalid"},
		{"carriage return at end", testBinding, valid + "\r", "cursor is invalid"},
		{"over-long", testBinding, strings.Repeat("A", MaxCursorLen+1), "cursor is invalid"},
		{"long valid-looking", testBinding, strings.Repeat("A", MaxCursorLen), "cursor is invalid"},
		{"other key", testBinding, NewCodec([]byte("another key")).Encode(testBinding, "mug", "id-1"), "cursor is invalid"},
		{"other sort", "orders?sort=created_at&status=paid", valid, "cursor was issued for a different sort or filter"},
		{"other filter", "orders?sort=-created_at&status=shipped", valid, "different sort or filter"},
		{"other resource", "products?sort=-created_at&status=paid", valid, "different sort or filter"},
		{"wrong version", testBinding, forge(append(header(2), 's', 0)...), "cursor is invalid"},
		{"unknown value type", testBinding, forge(append(header(1), 'x', 0)...), "cursor is invalid"},
		{"string length past the end", testBinding, forge(append(header(1), 's', 9, 'a')...), "cursor is invalid"},
		{"huge string length", testBinding, forge(append(header(1), 's', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)...), "cursor is invalid"},
		{"truncated varint", testBinding, forge(append(header(1), 'i', 0x80)...), "cursor is invalid"},
		{"nanoseconds out of range", testBinding, forge(append(header(1), 't', 0, 0x80, 0x94, 0xeb, 0xdc, 0x03)...), "cursor is invalid"},
		{"time missing nanoseconds", testBinding, forge(append(header(1), 't', 0)...), "cursor is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := c.Decode(tt.binding, tt.cursor)
			if err == nil {
				t.Fatalf("accepted: %+v", ks)
			}
			wantInvalid(t, err, CodeCursor, tt.want)
		})
	}
	t.Run("forged well-formed payload is accepted (the forge helper works)", func(t *testing.T) {
		ks, err := c.Decode(testBinding, forge(append(header(1), 'i', 2, 'x')...))
		if err != nil || ks.Value != int64(1) || ks.ID != "x" {
			t.Fatalf("got %+v, %v", ks, err)
		}
	})
	t.Run("string sort value too big for a cursor", func(t *testing.T) {
		cur := c.Encode(testBinding, strings.Repeat("€", 250), "id") // 750 bytes
		if len(cur) <= MaxCursorLen {
			t.Fatalf("expected an over-long cursor, got %d chars", len(cur))
		}
		_, err := c.Decode(testBinding, cur)
		wantInvalid(t, err, CodeCursor, "cursor is invalid")
	})
}

func TestCursorEncodePanicsOnProgrammingErrors(t *testing.T) {
	c := NewCodec(testKey)
	tests := []struct {
		name string
		fn   func()
	}{
		{"float", func() { c.Encode(testBinding, 1.5, "id") }},
		{"nil", func() { c.Encode(testBinding, nil, "id") }},
		{"pointer to time", func() { now := time.Now(); c.Encode(testBinding, &now, "id") }},
		{"uint64 overflow", func() { c.Encode(testBinding, uint64(math.MaxUint64), "id") }},
		{"empty secret", func() { NewCodec(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			tt.fn()
		})
	}
}

func TestCodecCopiesSecret(t *testing.T) {
	key := []byte("secret-secret-secret")
	c := NewCodec(key)
	cur := c.Encode(testBinding, "v", "id")
	key[0] ^= 0xff
	if _, err := c.Decode(testBinding, cur); err != nil {
		t.Fatalf("codec changed with the caller's slice: %v", err)
	}
}

func TestDecodeCursor(t *testing.T) {
	c := NewCodec(testKey)
	t.Run("no cursor is the first page", func(t *testing.T) {
		ks, err := mustParse(t, "status=paid").DecodeCursor(c)
		if ks != nil || err != nil {
			t.Fatalf("got %v, %v", ks, err)
		}
	})
	first := mustParse(t, "status=paid&sort=total_cents&limit=5")
	cur := c.Encode(first.Binding(), int64(4200), "order-9")
	t.Run("continues with other limit and fields", func(t *testing.T) {
		p := mustParse(t, "status=paid&sort=total_cents&limit=50&fields=id&cursor="+cur)
		ks, err := p.DecodeCursor(c)
		if err != nil || ks == nil || ks.Value != int64(4200) || ks.ID != "order-9" {
			t.Fatalf("got %+v, %v", ks, err)
		}
	})
	for _, q := range []string{
		"status=shipped&sort=total_cents", "sort=total_cents", "status=paid&sort=-total_cents",
		"status=paid", "status=paid&sort=total_cents&paid=true",
	} {
		t.Run("rebound: "+q, func(t *testing.T) {
			_, err := mustParse(t, q+"&cursor="+cur).DecodeCursor(c)
			wantInvalid(t, err, CodeCursor, "cursor was issued for a different sort or filter")
		})
	}
	t.Run("tampered", func(t *testing.T) {
		_, err := mustParse(t, "status=paid&sort=total_cents&cursor=x"+cur[1:]).DecodeCursor(c)
		wantInvalid(t, err, CodeCursor, "cursor is invalid")
	})
	t.Run("no codec is an internal error", func(t *testing.T) {
		_, err := mustParse(t, "cursor="+cur).DecodeCursor(nil)
		var e *apperr.Error
		if !errors.As(err, &e) || e.Kind != apperr.KindInternal {
			t.Fatalf("got %v", err)
		}
	})
}

func TestCodecConcurrentUse(t *testing.T) {
	c := NewCodec(testKey)
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				cur := c.Encode(testBinding, int64(i), "id")
				ks, err := c.Decode(testBinding, cur)
				if err == nil && ks.Value != int64(i) {
					err = errors.New("wrong value")
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestCursorSignedByPreviousSecretStillVerifies(t *testing.T) {
	oldKey, newKey, otherKey := []byte("old-secret-old-secret"), []byte("new-secret-new-secret"), []byte("unrelated-secret")
	before := NewCodec(oldKey).Encode(testBinding, "v", "id-1")

	rotated := NewCodec(newKey, oldKey)
	ks, err := rotated.Decode(testBinding, before)
	if err != nil || ks.Value != "v" || ks.ID != "id-1" {
		t.Fatalf("cursor from before the rotation: %+v, %v", ks, err)
	}
	// New cursors are signed with the new key only: a codec that does not
	// know the new key refuses them.
	after := rotated.Encode(testBinding, "w", "id-2")
	if _, err := NewCodec(oldKey).Decode(testBinding, after); err == nil {
		t.Fatal("cursor signed after the rotation verified with the old key")
	}
	// Once the old key is retired for good, its cursors are refused.
	if _, err := NewCodec(newKey, otherKey).Decode(testBinding, before); !errors.Is(err, errCursorInvalid) {
		t.Fatalf("cursor of a retired key: %v, want invalid", err)
	}
	// The binding is still checked for cursors of a previous key.
	if _, err := rotated.Decode(testBinding+"x", before); !errors.Is(err, errCursorBinding) {
		t.Fatalf("previous-key cursor with another binding: %v", err)
	}
}
