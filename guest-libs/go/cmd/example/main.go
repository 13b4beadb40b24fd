// Command example is a fork-aware guest on the mailbox package. It arms one
// mailbox per forkmail.mailbox=NAME:TOKEN on the kernel command line, waits
// with the wake-up rule, prints each payload on the console as
//
//	forkmail-guest: mailbox=NAME payload=JSON
//
// (the line `forkmail check` compares byte for byte with what it wrote),
// acks it and resets seq.
//
// example.fault=no-ack|ack-twice|bad-ack on the kernel command line breaks
// one rule on purpose: ../../../run-check.sh shows `forkmail check`
// catching it.
//
// Build: ../../build-example.sh OUT (CGO_ENABLED=0 go build: one static binary)
package main

import (
	"os"
	"strings"

	"forkmail/mailbox"
)

func say(s string) { os.Stdout.WriteString("example-go: " + s + "\n") }

// fault is the MODE of example.fault=MODE on the command line, or "".
func fault(cmdline string) string {
	for _, w := range strings.Fields(cmdline) {
		if strings.HasPrefix(w, "example.fault=") {
			return strings.TrimPrefix(w, "example.fault=")
		}
	}
	return ""
}

func ack(m *mailbox.Mailbox, payload []byte, fault string) {
	switch fault {
	case "no-ack":
		say("mailbox=" + m.Name() + " fault=no-ack: not acking")
		return
	case "bad-ack": // the right host and port, the wrong text
		port, err := mailbox.JSONUint(payload, "ack_port", 65535)
		if err != nil || port == 0 {
			return
		}
		gw, err := mailbox.Gateway()
		if err == nil {
			err = mailbox.SendUDP(gw, uint16(port), []byte("stage=received mailbox="+m.Name()+"\n"))
		}
		say("mailbox=" + m.Name() + " fault=bad-ack: sent stage=received (" + errText(err) + ")")
		return
	}
	times := 1
	if fault == "ack-twice" {
		times = 2
	}
	for ; times > 0; times-- {
		switch err := m.Ack(payload); err {
		case nil:
			say("mailbox=" + m.Name() + " ack sent")
		case mailbox.ErrNoPort: // no ack asked
		default:
			say("mailbox=" + m.Name() + " ack failed: " + err.Error())
		}
	}
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func main() {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		say("cannot read /proc/cmdline: " + err.Error())
		os.Exit(2)
	}
	params, err := mailbox.ParseCmdline(string(cmdline))
	if err != nil {
		say("bad forkmail.mailbox=NAME:TOKEN on the kernel command line: " + err.Error())
		os.Exit(2)
	}
	var boxes []*mailbox.Mailbox
	for _, p := range params {
		m, err := mailbox.Arm(p.Name, p.Token)
		if err != nil {
			say("cannot arm mailbox " + p.Name + ": " + err.Error())
			continue
		}
		boxes = append(boxes, m)
		say("armed mailbox=" + p.Name)
	}
	if len(boxes) == 0 {
		say("no mailbox armed (kernel command line: forkmail.mailbox=NAME:TOKEN)")
		os.Exit(1)
	}
	f := fault(string(cmdline))
	if f != "" {
		say("fault=" + f)
	}
	for {
		m, err := mailbox.Wait(boxes, -1)
		if err != nil {
			say("wait: " + err.Error())
			os.Exit(1)
		}
		if payload, err := m.Payload(); err == nil {
			os.Stdout.WriteString("forkmail-guest: mailbox=" + m.Name() + " payload=" + string(payload) + "\n")
			ack(m, payload, f)
		} else {
			say("mailbox=" + m.Name() + " bad frame: " + err.Error())
		}
		m.Reset()
	}
}
