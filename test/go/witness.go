// Command witness checks what one log's witness client sent and got back,
// written from the C2SP texts alone (tlog-witness, tlog-cosignature,
// signed-note, tlog-checkpoint), not from Attesto's code. It reads on stdin
// a JSON object: the cosigners ({name, vkey}), the add-checkpoint request
// bodies the client sent in order, and the cosigned checkpoints (notes with
// cosignature lines). For each body it checks the old-size line, the proof
// lines and, where the old size is not zero, the RFC 6962 consistency proof
// from the root of the checkpoint of that size sent earlier (with
// golang.org/x/mod/sumdb/tlog, an RFC 6962 implementation). For each
// cosigned note it checks every configured cosigner's cosignature/v1 line:
// key id, timestamp, Ed25519 signature over "cosignature/v1\ntime <t>\n" and
// the note body. It exits non-zero naming the first failure.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

type cosigner struct {
	Name string `json:"name"`
	Vkey string `json:"vkey"`
}

type input struct {
	Cosigners []cosigner `json:"cosigners"`
	Requests  []string   `json:"requests"`
	Notes     []string   `json:"notes"`
}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
	body   string
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// splitNote: the text ends at the last blank line; signature lines follow.
func splitNote(n string) (string, []string) {
	i := strings.LastIndex(n, "\n\n")
	if i < 0 || !strings.HasSuffix(n, "\n") {
		fail("not a signed note: %q", n)
	}
	return n[:i+1], strings.Split(n[i+2:len(n)-1], "\n")
}

func parseCheckpoint(text string) checkpoint {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 {
		fail("checkpoint has fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || (lines[1] != "0" && strings.HasPrefix(lines[1], "0")) {
		fail("bad checkpoint size %q", lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != 32 {
		fail("bad checkpoint root %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], raw)
	return checkpoint{origin: lines[0], size: size, root: root, body: text}
}

type key struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

// parseVkey: <name>+<hex key id>+<base64(0x04 || 32-byte key)>, with the key id
// SHA-256(name || "\n" || 0x04 || key)[:4] (tlog-cosignature).
func parseVkey(v string) key {
	parts := strings.SplitN(v, "+", 3)
	if len(parts) != 3 {
		fail("bad vkey %q", v)
	}
	data, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(data) != 33 || data[0] != 0x04 {
		fail("vkey %q is not an Ed25519 cosignature/v1 key", v)
	}
	h := sha256.Sum256(append([]byte(parts[0]+"\n"), data...))
	id := binary.BigEndian.Uint32(h[:4])
	if fmt.Sprintf("%08x", id) != parts[1] {
		fail("vkey %q: key id does not match", v)
	}
	return key{name: parts[0], id: id, pub: ed25519.PublicKey(data[1:])}
}

func checkCosignature(k key, n string) int64 {
	text, sigs := splitNote(n)
	for _, line := range sigs {
		prefix := "— " + k.name + " "
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(line[len(prefix):])
		if err != nil || len(raw) != 4+8+64 {
			continue
		}
		if binary.BigEndian.Uint32(raw[:4]) != k.id {
			continue
		}
		ts := binary.BigEndian.Uint64(raw[4:12])
		if ts > 1<<63-1 {
			fail("%s: timestamp beyond 2^63-1", k.name)
		}
		msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text)
		if !ed25519.Verify(k.pub, []byte(msg), raw[12:]) {
			fail("%s: the cosignature on %q does not verify", k.name, strings.SplitN(text, "\n", 3)[:2])
		}
		return int64(ts)
	}
	fail("%s: no cosignature line on %q", k.name, strings.SplitN(text, "\n", 3)[:2])
	return 0
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("read: %v", err)
	}
	var in input
	if err := json.Unmarshal(data, &in); err != nil {
		fail("json: %v", err)
	}
	seen := map[string]map[int64]tlog.Hash{}
	proofs := 0
	for i, body := range in.Requests {
		blank := strings.Index(body, "\n\n")
		if blank < 0 {
			fail("request %d: no blank line", i)
		}
		head := strings.Split(body[:blank], "\n")
		if !strings.HasPrefix(head[0], "old ") {
			fail("request %d: first line %q is not an old size line", i, head[0])
		}
		old, err := strconv.ParseInt(head[0][4:], 10, 64)
		if err != nil || old < 0 || (head[0][4:] != "0" && strings.HasPrefix(head[0][4:], "0")) {
			fail("request %d: bad old size %q", i, head[0])
		}
		if len(head)-1 > 63 {
			fail("request %d: more than 63 proof lines", i)
		}
		var proof tlog.TreeProof
		for _, l := range head[1:] {
			raw, err := base64.StdEncoding.DecodeString(l)
			if err != nil || len(raw) != 32 {
				fail("request %d: bad proof line %q", i, l)
			}
			var h tlog.Hash
			copy(h[:], raw)
			proof = append(proof, h)
		}
		text, _ := splitNote(body[blank+2:])
		cp := parseCheckpoint(text)
		if old > cp.size {
			fail("request %d: old size %d beyond the checkpoint's %d", i, old, cp.size)
		}
		if seen[cp.origin] == nil {
			seen[cp.origin] = map[int64]tlog.Hash{}
		}
		if old == 0 && len(proof) != 0 {
			fail("request %d: a proof with old size 0", i)
		}
		if old > 0 && old < cp.size {
			oldRoot, ok := seen[cp.origin][old]
			if !ok {
				fail("request %d: old size %d names no checkpoint sent before", i, old)
			}
			if err := tlog.CheckTree(proof, cp.size, cp.root, old, oldRoot); err != nil {
				fail("request %d: consistency proof %d -> %d: %v", i, old, cp.size, err)
			}
			proofs++
		}
		seen[cp.origin][cp.size] = cp.root
	}
	cosignatures := 0
	for _, n := range in.Notes {
		for _, c := range in.Cosigners {
			k := parseVkey(c.Vkey)
			if k.name != c.Name {
				fail("cosigner %s: vkey names %s", c.Name, k.name)
			}
			checkCosignature(k, n)
			cosignatures++
		}
	}
	var out bytes.Buffer
	json.NewEncoder(&out).Encode(map[string]int{"requests": len(in.Requests), "consistencyProofs": proofs, "cosignatures": cosignatures})
	os.Stdout.Write(out.Bytes())
}
