package mailbox

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// vectors is ../testdata/vectors.json: forkmail's own encoder's output.
type vectors struct {
	Markers []struct {
		Kind, Name, Token, MarkerHex, ArmedPageHex string
	}
	Names []struct {
		Name  string
		Valid bool
	}
	Tokens []struct {
		Token string
		Valid bool
	}
	Frames []struct {
		Kind, Name, Token, PayloadHex, AckLine, HandMade string
		ArmedPageHex, PatchedPageHex, ResetPageHex       string
		AckPort                                          *uint64
		Valid, Empty                                     bool
	}
	Acks    []struct{ Name, Line string }
	AckPort []struct {
		JSONHex  string
		AckPort  *uint64
		IsObject bool
	}
	CmdlineParams []struct{ Name, Token, Param string }
	Cmdlines      []struct {
		Cmdline string
		OK      bool
		Params  []Param
	}
	Gateways []struct {
		Route   string
		Gateway *string
	}
}

func load(t *testing.T) *vectors {
	text, err := os.ReadFile("../testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	// The file's keys are snake_case; encoding/json matches them
	// case-insensitively but not across '_': map them first.
	for _, k := range []string{"marker_hex", "armed_page_hex", "patched_page_hex", "reset_page_hex",
		"payload_hex", "ack_line", "hand_made", "ack_port", "is_object", "json_hex", "cmdline_params"} {
		text = bytes.ReplaceAll(text, []byte(`"`+k+`"`), []byte(`"`+strings.ReplaceAll(k, "_", "")+`"`))
	}
	var v vectors
	if err := json.Unmarshal(text, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func unhex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func armLike(kind, name, token string) (*Mailbox, error) {
	if kind == "fork" {
		return Arm(name, token)
	}
	return ArmResumeNetwork(token)
}

func TestMarkers(t *testing.T) {
	for _, v := range load(t).Markers {
		m, err := armLike(v.Kind, v.Name, v.Token)
		if err != nil {
			t.Errorf("arm %q %q: %v", v.Name, v.Token, err)
			continue
		}
		if marker := unhex(t, v.MarkerHex); !bytes.Equal(m.page[:len(marker)], marker) {
			t.Errorf("marker of %q %q", v.Name, v.Token)
		}
		if !bytes.Equal(m.page, unhex(t, v.ArmedPageHex)) {
			t.Errorf("armed page of %q %q", v.Name, v.Token)
		}
		m.Disarm()
		if m.page != nil || m.ueventFD != -1 || m.Poll() {
			t.Error("disarmed")
		}
	}
}

func TestNamesAndTokens(t *testing.T) {
	v := load(t)
	for _, n := range v.Names {
		if NameValid(n.Name) != n.Valid {
			t.Errorf("name %q: want valid=%v", n.Name, n.Valid)
		}
	}
	for _, k := range v.Tokens {
		if TokenValid(k.Token) != k.Valid {
			t.Errorf("token %q: want valid=%v", k.Token, k.Valid)
		}
	}
}

func TestFrames(t *testing.T) {
	for i, v := range load(t).Frames {
		m, err := armLike(v.Kind, v.Name, v.Token)
		if err != nil || !bytes.Equal(m.page, unhex(t, v.ArmedPageHex)) {
			t.Fatalf("frame %d: arm: %v", i, err)
		}
		copy(m.page, unhex(t, v.PatchedPageHex)) // the host's patch
		payload, err := m.Payload()
		switch {
		case v.Empty:
			if m.Poll() || err != ErrEmpty {
				t.Errorf("frame %d: nothing published, got %v", i, err)
			}
		case !v.Valid:
			if !m.Poll() || err != ErrPayload {
				t.Errorf("frame %d (%s): want ErrPayload, got %v", i, v.HandMade, err)
			}
		default:
			if err != nil || !bytes.Equal(payload, unhex(t, v.PayloadHex)) {
				t.Errorf("frame %d: payload: %v", i, err)
			}
			port, err := JSONUint(payload, "ack_port", 65535)
			if v.AckPort == nil && err == nil || v.AckPort != nil && (err != nil || port != *v.AckPort) {
				t.Errorf("frame %d: ack_port %d %v, want %v", i, port, err, v.AckPort)
			}
		}
		if v.AckLine != "" {
			if line, err := FormatAck(m.Name()); err != nil || line != v.AckLine {
				t.Errorf("frame %d: ack line %q", i, line)
			}
		}
		m.Reset()
		if !bytes.Equal(m.page, unhex(t, v.ResetPageHex)) {
			t.Errorf("frame %d: page after reset", i)
		}
		m.Disarm()
	}
}

func TestAcksAndAckPort(t *testing.T) {
	v := load(t)
	for _, a := range v.Acks {
		if line, err := FormatAck(a.Name); err != nil || line != a.Line {
			t.Errorf("ack of %q: %q %v", a.Name, line, err)
		}
	}
	for _, c := range v.AckPort {
		text := unhex(t, c.JSONHex)
		port, err := JSONUint(text, "ack_port", 65535)
		ok := c.AckPort == nil && err != nil || c.AckPort != nil && err == nil && port == *c.AckPort
		if !ok || !c.IsObject && err != ErrJSON {
			t.Errorf("ack_port of %.80q: %d %v, want %v", text, port, err, c.AckPort)
		}
	}
}

func TestCmdlineAndGateway(t *testing.T) {
	v := load(t)
	for _, p := range v.CmdlineParams {
		got, err := ParseCmdline(p.Param)
		if err != nil || len(got) != 1 || got[0] != (Param{p.Name, p.Token}) {
			t.Errorf("param %q: %v %v", p.Param, got, err)
		}
	}
	for _, c := range v.Cmdlines {
		got, err := ParseCmdline(c.Cmdline)
		if c.OK && (err != nil || len(got) != len(c.Params)) || !c.OK && err != ErrInvalid {
			t.Errorf("cmdline %q: %v %v", c.Cmdline, got, err)
			continue
		}
		for k := range got {
			if got[k] != c.Params[k] {
				t.Errorf("cmdline %q: param %d %v", c.Cmdline, k, got[k])
			}
		}
	}
	for i, g := range v.Gateways {
		got, err := ParseRoute(g.Route)
		if g.Gateway == nil && err != ErrNoGateway || g.Gateway != nil && (err != nil || net.IP(got[:]).String() != *g.Gateway) {
			t.Errorf("gateway %d: %v %v, want %v", i, got, err, g.Gateway)
		}
	}
}

// latency: how long after the host published Wait returned.
func latency(t *testing.T, m *Mailbox) time.Duration {
	published := make(chan time.Time, 1)
	go func() { // the host: payload, length, then seq
		time.Sleep(30 * time.Millisecond)
		copy(m.page[264:], "{}")
		m.page[260] = 2
		published <- time.Now()
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&m.page[256])), 1)
	}()
	got, err := Wait([]*Mailbox{m}, 5*time.Second)
	done := time.Now()
	if err != nil || got != m {
		t.Fatalf("wait: %v", err)
	}
	m.Reset()
	return done.Sub(<-published)
}

func TestWakeUpRule(t *testing.T) {
	m, err := Arm("wake", "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Disarm()
	if left := time.Until(m.fastUntil); left < 9*time.Second || left > FastWindow {
		t.Errorf("arming opens a 10 s fast window: %v left", left)
	}
	if d := latency(t, m); d > 50*time.Millisecond {
		t.Errorf("fast phase: seen %v after publishing", d)
	}
	m.fastUntil = time.Time{} // the window has passed
	if d := latency(t, m); d < 500*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("slow phase: seen %v after publishing (1 s polls)", d)
	}
	start := time.Now()
	if _, err := Wait([]*Mailbox{m}, 200*time.Millisecond); err != ErrTimeout || time.Since(start) > 600*time.Millisecond {
		t.Errorf("timeout 200 ms in the slow phase: %v after %v", err, time.Since(start))
	}
	m.skew -= int64(5 * time.Second) // as if the wall clock stepped 5 s
	Wait([]*Mailbox{m}, 20*time.Millisecond)
	if time.Until(m.fastUntil) < 9*time.Second {
		t.Error("a clock step reopens the fast window")
	}
	m.fastUntil = time.Time{}
	m.skew -= int64(900 * time.Millisecond) // not a step
	Wait([]*Mailbox{m}, 20*time.Millisecond)
	if !m.fastUntil.IsZero() {
		t.Error("a 0.9 s clock change is not a resume")
	}
}

func TestAPI(t *testing.T) {
	if _, err := Arm("bad name", "t"); err != ErrInvalid {
		t.Error("bad name")
	}
	if _, err := Arm("a", " \t"); err != ErrInvalid {
		t.Error("blank token")
	}
	if _, err := ArmResumeNetwork(strings.Repeat("r", 31)); err != ErrInvalid {
		t.Error("31-byte resume-network token")
	}
	if _, err := Wait(nil, 0); err != ErrInvalid {
		t.Error("nothing to wait for")
	}
	m, err := Arm("a", "t")
	if err != nil {
		t.Fatal(err)
	}
	if m.Ack([]byte("{}")) != ErrNoPort || m.Ack([]byte(`{"ack_port":0}`)) != ErrNoPort {
		t.Error("no ack_port, or 0: no ack")
	}
	m.Disarm()
	m.Disarm() // twice is harmless
	if _, err := m.Payload(); err != ErrInvalid {
		t.Error("payload of a disarmed mailbox")
	}
	if _, err := JSONUint([]byte(`{"k":7}`), "k", 5); err != ErrRange {
		t.Error("max below a digit")
	}
	if v, err := JSONUint([]byte(`{"k":18446744073709551615}`), "k", 1<<64-1); err != nil || v != 1<<64-1 {
		t.Error("max uint64")
	}
	if _, err := JSONUint([]byte(`{"k":18446744073709551616}`), "k", 1<<64-1); err != ErrRange {
		t.Error("max uint64 + 1")
	}
	deep := `{"a":` + strings.Repeat("[", 4096) + strings.Repeat("]", 4096) + "}"
	if _, err := JSONUint([]byte(deep), "k", 5); err != ErrJSON {
		t.Error("nesting over 4096 refused")
	}
	var sysErr *SysError
	if !errors.As(error(&SysError{"x", os.ErrPermission}), &sysErr) || !errors.Is(sysErr, os.ErrPermission) {
		t.Error("SysError unwraps")
	}
}

func TestUevent(t *testing.T) {
	has := func(s string) bool {
		for _, f := range splitNUL([]byte(s)) {
			if f == "NEW_VMGENID=1" {
				return true
			}
		}
		return false
	}
	if !has("change@/devices/x\x00ACTION=change\x00NEW_VMGENID=1\x00SEQNUM=7") ||
		has("change@/x\x00NEW_VMGENID=10\x00XNEW_VMGENID=1\x00NEW_VMGENID=") || !has("NEW_VMGENID=1") {
		t.Error("vmgenid uevent fields")
	}
}

func TestSendUDP(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	line, _ := FormatAck("app.config")
	if err := SendUDP([4]byte{127, 0, 0, 1}, uint16(rx.LocalAddr().(*net.UDPAddr).Port), []byte(line)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	rx.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := rx.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "stage=applied mailbox=app.config\n" {
		t.Errorf("datagram %q %v", buf[:n], err)
	}
}
