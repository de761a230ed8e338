package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/go-playground/validator/v10"
	"github.com/go-playground/validator/v10/non-standard/validators"

	"example.com/productapi/platform/apperr"
)

// bodyValidator checks the validate tags of decoded bodies. It is complete once
// built (every custom tag registered here) and nobody else can reach it, so
// no caller can change what another one's tags mean. Field errors name
// fields by their JSON names.
var bodyValidator = newValidator()

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	for tag, fn := range map[string]validator.Func{
		// notblank rejects "   " where min=1 would accept it.
		"notblank": validators.NotBlank,
		"sku":      func(fl validator.FieldLevel) bool { return skuPattern.MatchString(fl.Field().String()) },
	} {
		if err := v.RegisterValidation(tag, fn); err != nil {
			panic(err) // a programming error, caught by any test that decodes a body
		}
	}
	return v
}

// skuPattern is the "sku" tag: a product's stock-keeping unit.
var skuPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Decode reads a JSON request body into dst and validates it: 415 when the
// body is not JSON, 413 over the size limit, 400 for malformed JSON, invalid
// UTF-8, a NUL character or an unpaired surrogate in a string (CheckJSONText),
// unknown fields or trailing data, 422 listing every failing field.
func Decode(c *gin.Context, dst any) error {
	ct := c.GetHeader("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return apperr.New(apperr.KindUnsupportedMedia, "request.unsupported_media_type", "Content-Type must be application/json")
	}
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apperr.New(apperr.KindTooLarge, "request.too_large", fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit))
		}
		return apperr.Invalid("request.body", "could not read request body")
	}
	if err := DecodeJSON(raw, dst); err != nil {
		return err
	}
	return Validate(dst)
}

// DecodeJSON strictly decodes one JSON value (no unknown fields, nothing
// after it, only text every store can hold: CheckJSONText).
func DecodeJSON(raw []byte, dst any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return apperr.Invalid("request.body", "request body is empty")
	}
	// Before decoding: encoding/json would silently turn invalid bytes and
	// unpaired surrogates into U+FFFD, and an unknown-field error must not
	// echo a NUL.
	if err := CheckJSONText(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return apperr.Invalid("request.body", "%s", describeJSONError(err))
	}
	if dec.More() {
		return apperr.Invalid("request.body", "request body must hold a single JSON value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.Invalid("request.body", "request body must hold a single JSON value")
	}
	if err := checkDuplicateKeys(raw); err != nil {
		return err
	}
	return checkNulls(raw, reflect.TypeOf(dst), "")
}

// checkDuplicateKeys refuses an object that names a member twice:
// encoding/json keeps the last one silently, and parsers disagree on which
// wins (a proxy or a signature check may have read the other). raw has
// already decoded, so it is valid JSON.
func checkDuplicateKeys(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	// One frame per open object or array; objects track their keys and
	// whether the next string token is a key.
	type frame struct {
		keys      map[string]struct{}
		expectKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // io.EOF; anything else the decoder has refused already
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.expectKey {
			if key, ok := tok.(string); ok {
				if _, seen := top.keys[key]; seen {
					return apperr.Invalid("request.body", "field %q appears twice in one object", key)
				}
				top.keys[key] = struct{}{}
				top.expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]struct{}{}, expectKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value (scalar or a closed container) ends a member: the next
		// token of the enclosing object is a key again.
		if len(stack) > 0 && stack[len(stack)-1].keys != nil {
			stack[len(stack)-1].expectKey = true
		}
	}
}

// checkNulls refuses a JSON null where dst's field cannot hold one:
// encoding/json leaves such a field untouched, so {"price_cents": null}
// would read as "not sent" (a PATCH that silently does nothing, a
// register that takes a default) instead of the type error it is. Fields
// that model "any JSON" (json.RawMessage, maps, interfaces) may be null;
// structs and slices of structs are checked member by member. raw has
// already decoded into dst, so it is valid JSON of the right shape.
func checkNulls(raw []byte, t reflect.Type, at string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var members map[string]json.RawMessage
		if json.Unmarshal(raw, &members) != nil {
			return nil // null or not an object: the decoder has judged it
		}
		for name, value := range members {
			f, ok := jsonField(t, name)
			if !ok {
				continue
			}
			path := name
			if at != "" {
				path = at + "." + name
			}
			if string(bytes.TrimSpace(value)) == "null" {
				if nullable(f.Type) {
					continue
				}
				return apperr.Invalid("request.body", "field %q must not be null", path)
			}
			if err := checkNulls(value, f.Type, path); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() != reflect.Struct && !(t.Elem().Kind() == reflect.Pointer && t.Elem().Elem().Kind() == reflect.Struct) {
			return nil
		}
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return nil
		}
		for i, e := range elems {
			if string(bytes.TrimSpace(e)) == "null" {
				return apperr.Invalid("request.body", "%s[%d] must not be null", at, i)
			}
			if err := checkNulls(e, t.Elem(), fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

var rawMessageType = reflect.TypeOf(json.RawMessage(nil))

// nullable: the Go types whose JSON is "any value", null included.
func nullable(t reflect.Type) bool {
	return t == rawMessageType || t.Kind() == reflect.Map || t.Kind() == reflect.Interface
}

// jsonField finds the struct field encoding/json decodes member name into
// (exact tag name first, then case-insensitively, as encoding/json does).
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	var folded reflect.StructField
	found := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f, true
		}
		if !found && strings.EqualFold(tag, name) {
			folded, found = f, true
		}
	}
	return folded, found
}

var (
	errNotUTF8 = apperr.Invalid("request.body", "request body is not valid UTF-8")
	errNUL     = apperr.Invalid("request.body",
		`request body contains a NUL character (\u0000) in a string; it cannot be stored`)
	errSurrogate = apperr.Invalid("request.body",
		`request body contains an unpaired UTF-16 surrogate escape (\uD800-\uDFFF) in a string`)
)

// CheckJSONText refuses a JSON body whose text some store cannot hold or
// encoding/json would silently alter: invalid UTF-8, a NUL character
// (Postgres text cannot hold one: SQLSTATE 22021 would be a 500) and an
// unpaired surrogate escape (decoded as U+FFFD). It covers every string,
// keys too and those kept as json.RawMessage (flag variants). DecodeJSON
// runs it; handlers that parse JSON otherwise (OFREP) call it themselves.
func CheckJSONText(raw []byte) error {
	if !utf8.Valid(raw) {
		return errNotUTF8
	}
	return checkEscapes(raw)
}

// checkEscapes scans the strings of JSON text for \u0000 and for unpaired
// surrogate escapes. A raw NUL byte cannot occur in valid JSON (control
// characters must be escaped), so the escape is the only way in. On
// malformed JSON the scan may report nothing; the decoder refuses it then.
func checkEscapes(raw []byte) error {
	inString := false
	for i := 0; i < len(raw); i++ {
		switch ch := raw[i]; {
		case ch == '"':
			inString = !inString
		case ch == '\\' && inString && i+1 < len(raw):
			if raw[i+1] != 'u' {
				i++ // \", \\ and the other one-letter escapes
				continue
			}
			r, ok := hex4(raw, i+2)
			if !ok {
				continue // malformed: the decoder refuses it
			}
			i += 5
			switch {
			case r == 0:
				return errNUL
			case r >= 0xDC00 && r <= 0xDFFF:
				return errSurrogate
			case r >= 0xD800 && r <= 0xDBFF:
				// A high surrogate must be followed by \u and a low one.
				lo, ok := rune(0), i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u'
				if ok {
					lo, ok = hex4(raw, i+3)
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return errSurrogate
				}
				i += 6
			}
		}
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape starting at raw[at].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// describeJSONError explains a decode failure without echoing Go types.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s", typ.Field, jsonKind(typ.Type))
		}
		return "request body must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of body"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another type"
}

// Validate runs the struct's validate tags and lists every failing field.
func Validate(v any) error {
	err := bodyValidator.Struct(v)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return apperr.Internal(err)
	}
	fields := make([]apperr.FieldError, 0, len(verrs))
	for _, fe := range verrs {
		fields = append(fields, apperr.FieldError{Field: fieldPath(fe), Message: message(fe)})
	}
	return apperr.Validation(fields...)
}

// fieldPath drops the root struct name: "placeRequest.items[0].quantity" -> "items[0].quantity".
func fieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return fe.Field()
}

func message(fe validator.FieldError) string {
	p := fe.Param()
	switch fe.Tag() {
	case "required":
		return "is required"
	case "min":
		if isString(fe) {
			return fmt.Sprintf("must be at least %s characters", p)
		}
		if fe.Kind() == reflect.Slice {
			return fmt.Sprintf("must have at least %s items", p)
		}
		return "must be >= " + p
	case "max":
		if isString(fe) {
			return fmt.Sprintf("must be at most %s characters", p)
		}
		if fe.Kind() == reflect.Slice {
			return fmt.Sprintf("must have at most %s items", p)
		}
		return "must be <= " + p
	case "gte":
		return "must be >= " + p
	case "lte":
		return "must be <= " + p
	case "gt":
		return "must be > " + p
	case "email":
		return "must be a valid email address"
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(p, " ", ", ")
	case "len":
		return fmt.Sprintf("must be exactly %s characters", p)
	case "uuid", "uuid_rfc4122":
		return "must be a valid ID"
	case "iso4217":
		return "must be an ISO 4217 currency code"
	case "printascii", "alphanumunicode", "excludesall":
		return "contains characters that are not allowed"
	case "sku":
		return "must be 1-64 characters of A-Z, 0-9, '-', '_' or '.'"
	case "notblank":
		return "must not be blank"
	case "unique":
		return "must not contain duplicates"
	}
	return "is invalid (" + fe.Tag() + ")"
}

func isString(fe validator.FieldError) bool { return fe.Kind() == reflect.String }
