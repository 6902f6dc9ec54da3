// Command hl-ferretdb is the project's MongoDB-wire server for local runs: FerretDB (v1.24.x, pinned
// in go.mod) embedded through its public package github.com/FerretDB/FerretDB/ferretdb, with the
// SQLite backend keeping one file per database under -sqlite-dir. Built and started by
// deploy/local/mongo.sh; logs go to stderr.
//
// We embed instead of `go install github.com/FerretDB/FerretDB/cmd/ferretdb`: that binary's main
// module is FerretDB itself, so build/version requires the untracked version.txt and panics. When
// FerretDB is a dependency (our main module), build/version skips those files, reports version
// "unknown" and package "embedded", and nothing panics; no ldflags or build tags are needed.
//
// mongo.sh normally builds it against a copy of FerretDB with the seven patches of patches/
// (lookups, ranges and sorted pages by _id use SQLite indexes; the update command no longer
// deadlocks on batches of 100+ statements; concurrent writers queue on a mutex; resource tracking
// only with HL_FERRETDB_TRACK_RESOURCES=1) and records their names in `patches` through -ldflags;
// a plain `go build` here gives unpatched FerretDB.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/bson"
)

// patches names the build-time patches applied to FerretDB (set by mongo.sh with -ldflags -X).
var patches = "none"

func main() {
	listen := flag.String("listen", "127.0.0.1:27027", "TCP address to listen on (host:port)")
	dir := flag.String("sqlite-dir", "", "directory for the SQLite database files (created if missing)")
	level := flag.String("log-level", "info", "log level: debug, info, warn, error")
	synchronous := flag.String("sqlite-synchronous", "full",
		"SQLite PRAGMA synchronous of every database: full (fsync the WAL at each commit) or normal (fsync at checkpoints only; a commit survives a crash of this process, not of the machine)")
	pingAddr := flag.String("ping", "", "do not serve: send {ping: 1} to this host:port, exit 0 when it answers ok: 1")
	flag.Parse()

	if *pingAddr != "" {
		if err := ping(*pingAddr); err != nil {
			fmt.Fprintf(os.Stderr, "hl-ferretdb: ping %s: %v\n", *pingAddr, err)
			os.Exit(1)
		}
		return
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "hl-ferretdb: bad -log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	if *dir == "" {
		logger.Error("-sqlite-dir is required")
		os.Exit(2)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		logger.Error("bad -sqlite-dir", "err", err)
		os.Exit(2)
	}
	if err = os.MkdirAll(abs, 0o755); err != nil {
		logger.Error("cannot create -sqlite-dir", "err", err)
		os.Exit(1)
	}
	// FerretDB wants a "file:" URI naming an existing directory, path ending with "/".
	// url.URL escapes unusual characters in the path for us.
	if *synchronous != "full" && *synchronous != "normal" {
		logger.Error("bad -sqlite-synchronous: want full or normal", "value", *synchronous)
		os.Exit(2)
	}
	// FerretDB keeps the _pragma values it is given and adds its own defaults (busy_timeout,
	// journal_mode(wal), auto_vacuum(none); backends/sqlite/metadata/pool/uri.go).
	sqliteURL := (&url.URL{
		Scheme:   "file",
		Path:     filepath.ToSlash(abs) + "/",
		RawQuery: url.Values{"_pragma": {
			"synchronous(" + *synchronous + ")",
			// checkpoint the WAL every 10,000 pages (40 MB) instead of 1,000: the read models
			// rewrite the same hot pages (inbox, watermarks, counters) over and over, and each
			// checkpoint copies every page written since the last one
			"wal_autocheckpoint(10000)",
		}}.Encode(),
	}).String()

	// Embedded FerretDB reports version "unknown" (buildInfo.ferretdbVersion, serverStatus); tell
	// clients the module version we were built with instead.
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/FerretDB/FerretDB" {
				version.Get().Version = d.Version
			}
		}
	}

	// FerretDB allocates per statement (documents decoded from JSON); its live heap is small
	// (tens of MB), so collect at 4x growth instead of Go's 2x unless GOGC says otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger.With("component", "ferretdb"),
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		logger.Error("cannot start FerretDB", "err", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	logger.Info("hl-ferretdb listening", "uri", f.MongoDBURI(), "sqlite", sqliteURL, "synchronous", *synchronous, "patches", patches, "pid", os.Getpid())

	if err = f.Run(ctx); err != nil {
		logger.Error("FerretDB stopped with an error", "err", err)
		os.Exit(1)
	}
	logger.Info("hl-ferretdb stopped")
}

// ping is the readiness probe used by deploy/local/mongo.sh: one TCP connection, one OP_MSG
// {ping: 1, $db: "admin"}, two seconds at most, success when the reply says ok: 1. It speaks the wire
// protocol directly rather than through a driver so that it opens no monitoring connections and sends
// no endSessions (which FerretDB 1.24 does not implement and logs as a warning on every probe).
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err = conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}

	doc, err := bson.Marshal(bson.D{{Key: "ping", Value: int32(1)}, {Key: "$db", Value: "admin"}})
	if err != nil {
		return err
	}
	const opMsg = 2013
	// header: messageLength, requestID, responseTo, opCode; then flagBits and one kind-0 section.
	msg := make([]byte, 16+4+1, 16+4+1+len(doc))
	binary.LittleEndian.PutUint32(msg[4:], 1)
	binary.LittleEndian.PutUint32(msg[12:], opMsg)
	msg = append(msg, doc...)
	binary.LittleEndian.PutUint32(msg[0:], uint32(len(msg)))
	if _, err = conn.Write(msg); err != nil {
		return err
	}

	var hdr [16]byte
	if _, err = io.ReadFull(conn, hdr[:]); err != nil {
		return err
	}
	n := binary.LittleEndian.Uint32(hdr[0:])
	if op := binary.LittleEndian.Uint32(hdr[12:]); op != opMsg || n < 16+4+1+5 || n > 1<<20 {
		return fmt.Errorf("unexpected reply header (opCode %d, length %d)", op, n)
	}
	body := make([]byte, n-16)
	if _, err = io.ReadFull(conn, body); err != nil {
		return err
	}
	if body[4] != 0 {
		return fmt.Errorf("unexpected reply section kind %d", body[4])
	}
	reply := bson.Raw(body[5:])
	if err = reply.Validate(); err != nil {
		return fmt.Errorf("bad reply document: %w", err)
	}
	var ok float64
	switch v := reply.Lookup("ok"); v.Type {
	case bson.TypeDouble:
		ok = v.Double()
	case bson.TypeInt32:
		ok = float64(v.Int32())
	case bson.TypeInt64:
		ok = float64(v.Int64())
	}
	if ok != 1 {
		return fmt.Errorf("ping failed: %s", reply)
	}
	return nil
}
