// Command verify checks Attesto's checkpoints, proofs and tiles with the Go
// module ecosystem's own code (golang.org/x/mod/sumdb/note and tlog), as an
// independent implementation. It reads one JSON request on stdin and exits
// non-zero with a message on the first failure.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proof struct {
	Index    int64    `json:"index"`
	LeafHash string   `json:"leafHash"`
	From     int64    `json:"from"`
	RootFrom string   `json:"rootFrom"`
	Hashes   []string `json:"hashes"`
}

type request struct {
	Base        string  `json:"base"`
	Token       string  `json:"token"`
	VerifierKey string  `json:"verifierKey"`
	Note        string  `json:"note"`
	Inclusion   []proof `json:"inclusion"`
	Consistency []proof `json:"consistency"`
	// C2SP tlog-proof texts (c2sp.org/tlog-proof@v1) whose extra is the leaf.
	TlogProofs []string `json:"tlogProofs"`
	// Signed notes that are not checkpoints (key rotation statements), each opened with every key given.
	Statements []statement `json:"statements"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func hashes(list []string) []tlog.Hash {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		out[i] = hash(s)
	}
	return out
}

// tileReader fetches C2SP tlog-tiles paths (no height element) over HTTP.
type tileReader struct{ base, token string }

func (r tileReader) Height() int { return 8 }

func (r tileReader) get(path string) []byte {
	req, _ := http.NewRequest("GET", r.base+"/"+path, nil)
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		fail("GET %s: %d %s", path, res.StatusCode, body)
	}
	return body
}

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		// x/mod names tiles tile/<H>/<L>/<N>; C2SP tlog-tiles drops <H>.
		out[i] = r.get(strings.Replace(t.Path(), "tile/8/", "tile/", 1))
	}
	return out, nil
}

func (r tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

type statement struct {
	Note         string   `json:"note"`
	VerifierKeys []string `json:"verifierKeys"`
}

// checkStatement opens a note once per key: each key alone must verify it.
func checkStatement(i int, s statement) {
	for _, k := range s.VerifierKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			fail("statement %d: verifier key: %v", i, err)
		}
		if _, err := note.Open([]byte(s.Note), note.VerifierList(v)); err != nil {
			fail("statement %d: note.Open with %s: %v", i, v.Name(), err)
		}
	}
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail("bad request: %v", err)
	}
	for i, s := range req.Statements {
		checkStatement(i, s)
	}
	if len(req.Statements) > 0 {
		fmt.Printf("statements ok: %d\n", len(req.Statements))
	}
	verifier, err := note.NewVerifier(req.VerifierKey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open([]byte(req.Note), note.VerifierList(verifier))
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		fail("checkpoint body has %d lines", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("size: %v", err)
	}
	root := hash(lines[2])
	fmt.Printf("note ok: %s size %d\n", lines[0], size)

	for _, p := range req.Inclusion {
		if err := tlog.CheckRecord(hashes(p.Hashes), size, root, p.Index, hash(p.LeafHash)); err != nil {
			fail("CheckRecord %d: %v", p.Index, err)
		}
	}
	fmt.Printf("inclusion ok: %d\n", len(req.Inclusion))
	for _, p := range req.Consistency {
		if err := tlog.CheckTree(hashes(p.Hashes), size, root, p.From, hash(p.RootFrom)); err != nil {
			fail("CheckTree %d: %v", p.From, err)
		}
	}
	fmt.Printf("consistency ok: %d\n", len(req.Consistency))

	for i, text := range req.TlogProofs {
		checkTlogProof(i, text, verifier)
	}
	fmt.Printf("tlog-proof ok: %d\n", len(req.TlogProofs))

	if req.Base == "" {
		return
	}
	reader := tileReader{req.Base, req.Token}
	cp := reader.get("checkpoint")
	if !bytes.Equal(cp, []byte(req.Note)) {
		fail("served checkpoint differs from the signed note")
	}
	thr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, reader)
	treeHash, err := tlog.TreeHash(size, thr)
	if err != nil || treeHash != root {
		fail("TreeHash from tiles: %v", err)
	}
	// Every entry of every entry bundle, proven from tiles alone.
	for start := int64(0); start < size; start += 256 {
		width := size - start
		path := "tile/entries/" + strings.TrimPrefix(tlog.Tile{H: 8, L: 0, N: start / 256, W: 256}.Path(), "tile/8/0/")
		if width < 256 {
			path += ".p/" + strconv.FormatInt(width, 10)
		} else {
			width = 256
		}
		data := reader.get(path)
		for i := int64(0); i < width; i++ {
			if len(data) < 2 {
				fail("entry bundle %s is short", path)
			}
			l := int(binary.BigEndian.Uint16(data))
			entry := data[2 : 2+l]
			data = data[2+l:]
			index := start + i
			p, err := tlog.ProveRecord(size, index, thr)
			if err != nil {
				fail("ProveRecord %d: %v", index, err)
			}
			if err := tlog.CheckRecord(p, size, root, index, tlog.RecordHash(entry)); err != nil {
				fail("entry %d: %v", index, err)
			}
		}
		if len(data) != 0 {
			fail("entry bundle %s has trailing bytes", path)
		}
	}
	fmt.Printf("tiles ok: %d entries\n", size)
}

// checkTlogProof reads a c2sp.org/tlog-proof@v1 text: format line, extra,
// index, audit path, empty line, signed checkpoint; the checkpoint must
// verify with the key and the path must lead from the record hash of extra
// to its root.
func checkTlogProof(i int, text string, verifier note.Verifier) {
	head, checkpoint, ok := strings.Cut(text, "\n\n")
	if !ok {
		fail("tlog-proof %d: no empty line", i)
	}
	lines := strings.Split(head, "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		fail("tlog-proof %d: first line %q", i, lines[0])
	}
	lines = lines[1:]
	var extra []byte
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		var err error
		if extra, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[0], "extra ")); err != nil {
			fail("tlog-proof %d: extra: %v", i, err)
		}
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		fail("tlog-proof %d: no index line", i)
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "index "), 10, 64)
	if err != nil {
		fail("tlog-proof %d: index: %v", i, err)
	}
	n, err := note.Open([]byte(checkpoint), note.VerifierList(verifier))
	if err != nil {
		fail("tlog-proof %d: note.Open: %v", i, err)
	}
	body := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(body[1], 10, 64)
	if err != nil {
		fail("tlog-proof %d: size: %v", i, err)
	}
	if err := tlog.CheckRecord(hashes(lines[1:]), size, hash(body[2]), index, tlog.RecordHash(extra)); err != nil {
		fail("tlog-proof %d: CheckRecord %d: %v", i, index, err)
	}
}
