package mailbox

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Ack sends "stage=applied mailbox=NAME\n" over UDP to the default gateway
// on the payload's top-level ack_port; ErrNoPort when it has none (no ack
// was asked).
func (m *Mailbox) Ack(payload []byte) error {
	if m.page == nil || m.kind != Fork {
		return ErrInvalid
	}
	port, err := JSONUint(payload, "ack_port", 65535)
	if err != nil || port == 0 {
		return ErrNoPort
	}
	line, err := FormatAck(m.name)
	if err != nil {
		return err
	}
	gw, err := Gateway()
	if err != nil {
		return err
	}
	return SendUDP(gw, uint16(port), []byte(line))
}

// FormatAck is the ack line for mailbox name.
func FormatAck(name string) (string, error) {
	if !NameValid(name) {
		return "", ErrInvalid
	}
	return "stage=applied mailbox=" + name + "\n", nil
}

// Gateway reads the default gateway from /proc/net/route (its first 16 KiB:
// the default route is near the top).
func Gateway() ([4]byte, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return [4]byte{}, &SysError{"open /proc/net/route", err}
	}
	defer f.Close()
	buf := make([]byte, 16384)
	n := 0
	for n < len(buf) {
		r, err := f.Read(buf[n:])
		n += r
		if err != nil || r == 0 {
			break
		}
	}
	return ParseRoute(string(buf[:n]))
}

// ParseRoute finds the gateway of the first default route (destination
// 00000000) in /proc/net/route text.
func ParseRoute(text string) ([4]byte, error) {
	lines := strings.Split(text, "\n")
	for _, line := range lines[1:] { // after the header
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\f' || r == '\r' })
		if len(f) < 3 || f[1] != "00000000" {
			continue
		}
		if len(f[2]) > 8 {
			return [4]byte{}, ErrNoGateway
		}
		var g uint32
		for i := 0; i < len(f[2]); i++ {
			h := hexVal(f[2][i])
			if h < 0 {
				return [4]byte{}, ErrNoGateway
			}
			g = g<<4 | uint32(h)
		}
		if g == 0 {
			return [4]byte{}, ErrNoGateway
		}
		// The kernel prints the __be32 as a host-order (little-endian) number.
		return [4]byte{byte(g), byte(g >> 8), byte(g >> 16), byte(g >> 24)}, nil
	}
	return [4]byte{}, ErrNoGateway
}

// SendUDP sends one datagram to addr:port from a fresh socket.
func SendUDP(addr [4]byte, port uint16, b []byte) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return &SysError{"socket", err}
	}
	defer syscall.Close(fd)
	if err = syscall.Sendto(fd, b, 0, &syscall.SockaddrInet4{Port: int(port), Addr: addr}); err != nil {
		return &SysError{"sendto", err}
	}
	return nil
}

// Param is one forkmail.mailbox=NAME:TOKEN of a kernel command line.
type Param struct{ Name, Token string }

// ParseCmdline returns every forkmail.mailbox=NAME:TOKEN of a kernel
// command line in order, the token percent-decoded; the split is at the
// last ':' (a name may hold ':', an encoded token never does).
func ParseCmdline(cmdline string) ([]Param, error) {
	const param = "forkmail.mailbox="
	var out []Param
	words := strings.FieldsFunc(cmdline, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r'
	})
	for _, w := range words {
		if !strings.HasPrefix(w, param) {
			continue
		}
		value := w[len(param):]
		colon := strings.LastIndexByte(value, ':')
		if colon < 0 || colon > NameMax {
			return nil, ErrInvalid
		}
		token := make([]byte, 0, len(value)-colon)
		for i := colon + 1; i < len(value); {
			if value[i] != '%' {
				token = append(token, value[i])
				i++
				continue
			}
			// %XX; %00 cannot be part of a token.
			if len(value)-i < 3 || hexVal(value[i+1]) < 0 || hexVal(value[i+2]) < 0 {
				return nil, ErrInvalid
			}
			b := byte(hexVal(value[i+1])<<4 | hexVal(value[i+2]))
			if b == 0 {
				return nil, ErrInvalid
			}
			token = append(token, b)
			i += 3
		}
		if len(token) > TokenMax || !utf8.Valid(token) {
			return nil, ErrInvalid
		}
		out = append(out, Param{value[:colon], string(token)})
	}
	return out, nil
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// jsonDepth bounds nesting: a 3832-byte payload nests at most 1916 deep.
const jsonDepth = 4096

// JSONUint returns the value of the LAST top-level member of the JSON
// object whose key, escapes decoded, equals key, when it is an integer
// 0..max. It validates the whole text as JSON (RFC 8259) in one pass with
// no recursion: what forkmail's own parser (serde_json) returns, on every
// case of testdata/vectors.json. Limits: nesting deeper than 4096 is
// refused; as in serde_json, unpaired \u surrogates are refused in
// top-level keys and accepted elsewhere; the value must be written as a
// plain integer (40123, not 4.0123e4, 40123.0 or "40123"), and -0 is not
// one. Errors: ErrJSON, ErrNoKey, ErrRange.
func JSONUint(s []byte, key string, max uint64) (uint64, error) {
	var object [jsonDepth]bool // the container at depth d is an object
	depth, found, ours := 0, false, false
	var vstart, vend int
	i := jsonWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		return 0, ErrJSON
	}
	for {
		// A value starts here; in an object, its key first.
		i = jsonWS(s, i)
		if depth > 0 && object[depth-1] {
			if i >= len(s) || s[i] != '"' {
				return 0, ErrJSON
			}
			var match bool
			if i, match = jsonString(s, i, key, depth == 1); i == 0 {
				return 0, ErrJSON
			}
			if i = jsonWS(s, i); i >= len(s) || s[i] != ':' {
				return 0, ErrJSON
			}
			i = jsonWS(s, i+1)
			ours = depth == 1 && match
		}
		if i >= len(s) {
			return 0, ErrJSON
		}
		if c := s[i]; c == '{' || c == '[' {
			if ours { // the key's value is not an integer
				found, vstart, vend = true, 0, 0
			}
			ours = false
			if depth == jsonDepth {
				return 0, ErrJSON
			}
			object[depth] = c == '{'
			depth++
			close := byte(']')
			if c == '{' {
				close = '}'
			}
			if i = jsonWS(s, i+1); i >= len(s) || s[i] != close {
				continue // its first member or element
			}
			depth-- // empty
			i++
		} else {
			start := i
			if c == '"' {
				i, _ = jsonString(s, i, "", false)
			} else {
				i = jsonScalar(s, i)
			}
			if i <= 0 {
				return 0, ErrJSON
			}
			if ours {
				found, vstart, vend = true, start, i
			}
			ours = false
		}
		// After a value: close containers, or a comma and the next one.
		for next := false; !next; {
			if depth == 0 {
				if jsonWS(s, i) != len(s) {
					return 0, ErrJSON // text after the object
				}
				return jsonValue(s[vstart:vend], found, max)
			}
			i = jsonWS(s, i)
			close := byte(']')
			if object[depth-1] {
				close = '}'
			}
			switch {
			case i < len(s) && s[i] == ',':
				i++
				next = true
			case i < len(s) && s[i] == close:
				depth--
				i++
			default:
				return 0, ErrJSON
			}
		}
	}
}

func jsonValue(v []byte, found bool, max uint64) (uint64, error) {
	if !found {
		return 0, ErrNoKey
	}
	if len(v) == 0 {
		return 0, ErrRange
	}
	var n uint64
	for _, c := range v {
		d := uint64(c - '0')
		if c < '0' || c > '9' || d > max || n > (max-d)/10 {
			return 0, ErrRange
		}
		n = n*10 + d
	}
	return n, nil
}

func jsonWS(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// jsonString validates the string at s[i] == '"' and returns the index
// after its closing quote (0: not valid) and, when compare, whether it
// equals key (escapes decoded; \u surrogates must then pair).
func jsonString(s []byte, i int, key string, compare bool) (int, bool) {
	k, eq := 0, compare
	var high rune
	for i++; i < len(s); {
		c := s[i]
		r := rune(c)
		switch {
		case c == '"':
			if high != 0 {
				return 0, false
			}
			return i + 1, eq && k == len(key)
		case c < 0x20:
			return 0, false
		case c == '\\':
			if len(s)-i < 2 {
				return 0, false
			}
			e := s[i+1]
			i += 2
			if e == 'u' {
				if len(s)-i < 4 {
					return 0, false
				}
				r = 0
				for d := 0; d < 4; d++ {
					h := hexVal(s[i+d])
					if h < 0 {
						return 0, false
					}
					r = r<<4 | rune(h)
				}
				i += 4
			} else if at := strings.IndexByte(`"\/bfnrt`, e); at >= 0 {
				r = rune("\"\\/\b\f\n\r\t"[at])
			} else {
				return 0, false
			}
		case c < 0x80:
			i++
		default:
			var size int
			if r, size = utf8.DecodeRune(s[i:]); r == utf8.RuneError && size == 1 {
				return 0, false // not UTF-8 (DecodeRune refuses surrogates and overlongs)
			}
			i += size
		}
		if compare { // a key is decoded: \u surrogates must pair
			lo, hi := r >= 0xdc00 && r <= 0xdfff, r >= 0xd800 && r <= 0xdbff
			if (high != 0) != lo {
				return 0, false
			}
			if hi {
				high = r
				continue
			}
			if lo {
				r, high = 0x10000+(high-0xd800)<<10+(r-0xdc00), 0
			}
		}
		if eq && k < len(key) && r == rune(key[k]) {
			k++
		} else {
			eq = false
		}
	}
	return 0, false
}

// jsonScalar validates the number or literal at s[i]: the index after it,
// or 0.
func jsonScalar(s []byte, i int) int {
	for _, lit := range [][]byte{[]byte("true"), []byte("false"), []byte("null")} {
		if bytes.HasPrefix(s[i:], lit) {
			return i + len(lit)
		}
	}
	digits := func(i int) int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return 0
		}
		return i
	}
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(i)
	default:
		return 0
	}
	if i < len(s) && s[i] == '.' {
		if i = digits(i + 1); i == 0 {
			return 0
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i = digits(i); i == 0 {
			return 0
		}
	}
	return i
}
