// Package mailbox is the guest side of forkmail's fork-mailbox contract
// (docs/mailbox-contract.md): pure Go on the standard library's syscall
// package, for Linux.
//
// A guest: Arm each mailbox before the VM is snapshotted, Wait (the wake-up
// rule) or Poll, Payload, apply it, Ack, Reset. Disarm when done. A Mailbox
// is used by one goroutine at a time.
//
// The wake-up rule (docs/guests.md): Wait polls seq every 1 ms for 10 s
// after arming and after a detected resume, every 1 s otherwise. A resume
// is detected from a vmgenid uevent (NEW_VMGENID=1 on
// NETLINK_KOBJECT_UEVENT) or a step of more than 1 s of the wall clock
// against the monotonic clock.
package mailbox

import (
	"errors"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// The contract's numbers, and the wake-up rule's.
const (
	PageSize     = 4096
	NameMax      = 64   // ^[A-Za-z0-9._:-]{1,64}$
	TokenMax     = 128  // fork token: 1..128 bytes of UTF-8, no NUL, not blank
	RNTokenMax   = 30   // resume-network token: 1..30 bytes
	PayloadMax   = 3832 // fork payload
	RNPayloadMax = 4024 // resume-network payload

	FastWindow   = 10 * time.Second // fast polling lasts this long after arming or a resume
	FastInterval = time.Millisecond
	SlowInterval = time.Second
	ClockStep    = time.Second // a wall-clock step above this is a resume
)

// Kind is the kind of a mailbox.
type Kind int

// The two kinds.
const (
	Fork Kind = iota
	ResumeNetwork
)

// Errors. A failed system call is a *SysError.
var (
	ErrEmpty     = errors.New("mailbox: no payload published (seq is 0)")
	ErrTimeout   = errors.New("mailbox: timed out waiting for a payload")
	ErrInvalid   = errors.New("mailbox: invalid argument (name, token, or mailbox not armed)")
	ErrPayload   = errors.New("mailbox: the frame breaks the contract (length over the limit, a NUL, or not UTF-8)")
	ErrNoPort    = errors.New("mailbox: no top-level ack_port in the payload: nothing to ack")
	ErrNoGateway = errors.New("mailbox: no default gateway in /proc/net/route")
	ErrNoKey     = errors.New("mailbox: no such top-level key")
	ErrRange     = errors.New("mailbox: the value is not an integer in range")
	ErrJSON      = errors.New("mailbox: not a JSON object")
)

// SysError is a failed system call.
type SysError struct {
	Op  string
	Err error
}

func (e *SysError) Error() string { return "mailbox: " + e.Op + ": " + e.Err.Error() }
func (e *SysError) Unwrap() error { return e.Err }

type layout struct{ seq, len, payload, max int }

func (k Kind) layout() layout {
	if k == Fork {
		return layout{256, 260, 264, PayloadMax}
	}
	return layout{64, 68, 72, RNPayloadMax}
}

// The magics XOR 0x5a, so the program file holds no copy of them: its
// bytes are in guest RAM too, and a scan would report a stray marker.
var (
	forkMagic = [24]byte{0x12, 0x03, 0x0a, 0x1f, 0x17, 0x1b, 0x14, 0x05, 0x1c, 0x15, 0x08, 0x11,
		0x05, 0x17, 0x1b, 0x13, 0x16, 0x18, 0x15, 0x02, 0x05, 0x0c, 0x6b, 0x5a}
	rnMagic = [34]byte{0x12, 0x03, 0x0a, 0x1f, 0x17, 0x1b, 0x14, 0x05, 0x08, 0x1f, 0x09, 0x0f,
		0x17, 0x1f, 0x05, 0x14, 0x1f, 0x0e, 0x0d, 0x15, 0x08, 0x11, 0x05, 0x17, 0x1b, 0x13,
		0x16, 0x18, 0x15, 0x02, 0x05, 0x0c, 0x6b, 0x5a}
	magicKey byte = 0x5a // a variable: the XOR is done at run time
)

// Mailbox is one armed mailbox.
type Mailbox struct {
	page      []byte // the locked page; nil once disarmed
	kind      Kind
	name      string
	ueventFD  int       // NETLINK_KOBJECT_UEVENT socket, -1 without
	fastUntil time.Time // poll fast until then (monotonic)
	skew      int64     // wall-clock ns minus monotonic ns since base, when last looked
	base      time.Time
}

// NameValid tells whether name follows ^[A-Za-z0-9._:-]{1,64}$.
func NameValid(name string) bool {
	if len(name) == 0 || len(name) > NameMax {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// TokenValid tells whether token is 1..128 bytes of UTF-8, without NUL,
// not all white space.
func TokenValid(token string) bool {
	if len(token) == 0 || len(token) > TokenMax || !utf8.ValidString(token) {
		return false
	}
	blank := true
	for _, r := range token {
		if r == 0 {
			return false
		}
		blank = blank && unicode.IsSpace(r)
	}
	return !blank
}

// Arm maps and locks a page and builds the fork marker in it: magic, name,
// NUL, token.
func Arm(name, token string) (*Mailbox, error) {
	if !NameValid(name) || !TokenValid(token) {
		return nil, ErrInvalid
	}
	m, err := mapPage(Fork)
	if err != nil {
		return nil, err
	}
	// Piece by piece, in the page: the full marker exists nowhere else.
	n := putMagic(m.page, forkMagic[:])
	n += copy(m.page[n:], name) + 1 // the NUL: the page is zero
	copy(m.page[n:], token)
	m.name = name
	m.start()
	return m, nil
}

// ArmResumeNetwork arms a resume-network mailbox: magic, token (zero padded
// to 64). Its ack is not part of the contract: Ack refuses it.
func ArmResumeNetwork(token string) (*Mailbox, error) {
	if len(token) == 0 || len(token) > RNTokenMax {
		return nil, ErrInvalid
	}
	m, err := mapPage(ResumeNetwork)
	if err != nil {
		return nil, err
	}
	copy(m.page[putMagic(m.page, rnMagic[:]):], token)
	m.start()
	return m, nil
}

func mapPage(kind Kind) (*Mailbox, error) {
	page, err := syscall.Mmap(-1, 0, PageSize, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, &SysError{"mmap", err}
	}
	// Locked, and not inherited by a fork(): a child's copy-on-write copy
	// would keep the marker in a second physical page once seq is written.
	if err = syscall.Mlock(page); err != nil {
		syscall.Munmap(page)
		return nil, &SysError{"mlock", err}
	}
	if err = syscall.Madvise(page, syscall.MADV_DONTFORK); err != nil {
		syscall.Munmap(page)
		return nil, &SysError{"madvise", err}
	}
	return &Mailbox{page: page, kind: kind, ueventFD: -1}, nil
}

func putMagic(page, scrambled []byte) int {
	for i, b := range scrambled {
		page[i] = b ^ magicKey
	}
	return len(scrambled)
}

func (m *Mailbox) start() {
	m.ueventFD = ueventOpen()
	m.base = time.Now()
	m.skew = 0
	m.fastUntil = m.base.Add(FastWindow)
}

// Name is the mailbox's name ("" for a resume-network mailbox).
func (m *Mailbox) Name() string { return m.name }

// Kind is the mailbox's kind.
func (m *Mailbox) Kind() Kind { return m.kind }

func (m *Mailbox) seq() *uint32 {
	return (*uint32)(unsafe.Pointer(&m.page[m.kind.layout().seq])) // page-aligned + 256 or 64
}

// Poll tells whether a payload is published (seq != 0). It is an atomic
// load: what the host wrote before seq is seen after it.
func (m *Mailbox) Poll() bool {
	return m.page != nil && atomic.LoadUint32(m.seq()) != 0
}

// Payload copies the published payload out of the page: ErrEmpty when seq
// is 0, ErrPayload when the length is over the limit or the bytes hold a
// NUL or are not UTF-8.
func (m *Mailbox) Payload() ([]byte, error) {
	if m.page == nil {
		return nil, ErrInvalid
	}
	if !m.Poll() {
		return nil, ErrEmpty
	}
	l := m.kind.layout()
	p := m.page
	n := int(p[l.len]) | int(p[l.len+1])<<8 | int(p[l.len+2])<<16 | int(p[l.len+3])<<24
	if n > l.max {
		return nil, ErrPayload
	}
	out := make([]byte, n)
	copy(out, p[l.payload:])
	for _, b := range out {
		if b == 0 {
			return nil, ErrPayload
		}
	}
	if !utf8.Valid(out) {
		return nil, ErrPayload
	}
	return out, nil
}

// Reset sets seq to 0 (an atomic store): the payload is consumed.
func (m *Mailbox) Reset() {
	if m.page != nil {
		atomic.StoreUint32(m.seq(), 0)
	}
}

// Disarm zeroes the page (so the marker does not outlive the mailbox in a
// freed page), unlocks and unmaps it and closes the uevent socket.
func (m *Mailbox) Disarm() {
	if m.page == nil {
		return
	}
	for i := range m.page {
		m.page[i] = 0
	}
	syscall.Munlock(m.page)
	syscall.Munmap(m.page)
	if m.ueventFD >= 0 {
		syscall.Close(m.ueventFD)
	}
	m.page, m.ueventFD = nil, -1
}

// Wait blocks until one of boxes has a payload and returns it, with the
// wake-up rule; timeout < 0 waits for ever. ErrTimeout after timeout.
func Wait(boxes []*Mailbox, timeout time.Duration) (*Mailbox, error) {
	if len(boxes) == 0 {
		return nil, ErrInvalid
	}
	for _, m := range boxes {
		if m == nil || m.page == nil {
			return nil, ErrInvalid
		}
	}
	start := time.Now()
	for {
		for _, m := range boxes {
			if m.Poll() {
				return m, nil
			}
		}
		now := time.Now()
		left := time.Duration(1<<63 - 1)
		if timeout >= 0 {
			if left = timeout - now.Sub(start); left <= 0 {
				return nil, ErrTimeout
			}
		}
		if clockStepped(boxes, now) {
			fast(boxes, now)
		}
		sleep := SlowInterval
		for _, m := range boxes {
			if now.Before(m.fastUntil) {
				sleep = FastInterval
			}
		}
		if sleep > left {
			sleep = left
		}
		if sleepOrUevent(boxes, sleep) {
			fast(boxes, time.Now())
		}
	}
}

func fast(boxes []*Mailbox, now time.Time) {
	for _, m := range boxes {
		m.fastUntil = now.Add(FastWindow)
	}
}

// clockStepped tells whether the wall clock stepped against the monotonic
// clock since the last look.
func clockStepped(boxes []*Mailbox, now time.Time) bool {
	stepped := false
	for _, m := range boxes {
		skew := now.UnixNano() - m.base.UnixNano() - int64(now.Sub(m.base))
		if d := skew - m.skew; d > int64(ClockStep) || -d > int64(ClockStep) {
			stepped = true
		}
		m.skew = skew
	}
	return stepped
}

// ueventOpen opens the kernel's uevent socket (group 1); -1 without one:
// then only the clock step signals a resume.
func ueventOpen() int {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK,
		syscall.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return -1
	}
	if err = syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK, Groups: 1}); err != nil {
		syscall.Close(fd)
		return -1
	}
	return fd
}

// sleepOrUevent sleeps up to d, woken early by a uevent; true if one was
// the kernel's NEW_VMGENID=1 (the VM was restored from a snapshot).
func sleepOrUevent(boxes []*Mailbox, d time.Duration) bool {
	var set syscall.FdSet
	bits := int(unsafe.Sizeof(set.Bits[0]) * 8)
	maxFD := -1
	for _, m := range boxes {
		if fd := m.ueventFD; fd >= 0 && fd < syscall.FD_SETSIZE {
			set.Bits[fd/bits] |= 1 << (uint(fd) % uint(bits))
			if fd > maxFD {
				maxFD = fd
			}
		}
	}
	if maxFD < 0 {
		time.Sleep(d)
		return false
	}
	tv := syscall.NsecToTimeval(int64(d))
	if n, err := syscall.Select(maxFD+1, &set, nil, nil, &tv); err != nil || n <= 0 {
		return false
	}
	resumed := false
	for _, m := range boxes {
		if fd := m.ueventFD; fd >= 0 && fd < syscall.FD_SETSIZE && set.Bits[fd/bits]&(1<<(uint(fd)%uint(bits))) != 0 {
			resumed = ueventDrain(fd) || resumed
		}
	}
	return resumed
}

// ueventDrain reads what is queued (at most 64 messages).
func ueventDrain(fd int) bool {
	var buf [4096]byte
	seen := false
	for k := 0; k < 64; k++ {
		n, from, err := syscall.Recvfrom(fd, buf[:], syscall.MSG_DONTWAIT)
		if err != nil || n <= 0 {
			break
		}
		if nl, ok := from.(*syscall.SockaddrNetlink); !ok || nl.Pid != 0 {
			continue // not from the kernel
		}
		for _, field := range splitNUL(buf[:n]) {
			seen = seen || field == "NEW_VMGENID=1"
		}
	}
	return seen
}

func splitNUL(b []byte) []string {
	var out []string
	for start, i := 0, 0; i <= len(b); i++ {
		if i == len(b) || b[i] == 0 {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return out
}
