package importer_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"hash/fnv"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"rapport/engine"
	"rapport/engine/importer"
)

// memWriter keeps what an import writes, keyed like the store so that a
// re-import's identical ids overwrite.
type memWriter struct {
	events map[uint64]engine.Event
	items  map[string]engine.Item
	ids    map[string]bool
}

func newMem() *memWriter {
	return &memWriter{events: map[uint64]engine.Event{}, items: map[string]engine.Item{}, ids: map[string]bool{}}
}

func (m *memWriter) AddEvent(ev *engine.Event, id uint64) (bool, error) {
	if ev.ClientID != "" { // an id is unique per alias, as in the store
		k := ev.Alias.String() + "\x00" + ev.ClientID
		if m.ids[k] {
			return false, nil
		}
		m.ids[k] = true
	}
	m.events[id] = *ev
	return true, nil
}

func (m *memWriter) PutItem(it engine.Item) error { m.items[it.ID] = it; return nil }

func TestOnlineRetailPreset(t *testing.T) {
	data, err := os.ReadFile("testdata/online-retail-sample.csv")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	m := newMem()
	var rejects bytes.Buffer
	sum, err := importer.Events(context.Background(), &gz, m, importer.Options{Name: "retail.csv.gz", Preset: "online-retail", Rejects: &rejects})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 12 || sum.Imported+sum.SkippedTotal() != sum.Rows {
		t.Fatalf("summary does not account for every row: %+v", sum)
	}
	want := map[string]int{"not a product": 2, "stock adjustment": 1, "invalid time": 1, "malformed row": 1}
	for reason, n := range want {
		if sum.Skipped[reason] != n {
			t.Errorf("skipped %q = %d, want %d (all: %v)", reason, sum.Skipped[reason], n, sum.Skipped)
		}
	}
	if sum.Imported != 7 || len(m.events) != 7 {
		t.Fatalf("imported %d (%d distinct), want 7; the duplicate row is a second, real line", sum.Imported, len(m.events))
	}
	var returns, guests int
	guestAliases := map[string]bool{}
	for _, ev := range m.events {
		if ev.Type == engine.EventReturn {
			returns++
			if ev.Quantity != 1 {
				t.Errorf("return quantity %v, want 1", ev.Quantity)
			}
		}
		if ev.Alias.Kind == engine.KindAnon {
			guests++
			guestAliases[ev.Alias.String()] = true
		}
		if ev.Currency != "GBP" || ev.Source != "web" {
			t.Errorf("event %+v lacks the preset's currency or source", ev)
		}
	}
	if returns != 1 || guests != 2 || !guestAliases["anon:invoice-536544"] {
		t.Fatalf("returns %d, guests %d %v", returns, guests, guestAliases)
	}
	if it := m.items["85123A"]; it.Title != "WHITE HANGING HEART T-LIGHT HOLDER" || it.Price != 2.55 || it.Currency != "GBP" {
		t.Fatalf("catalog entry: %+v", it)
	}
	if _, ok := m.items["POST"]; ok {
		t.Fatal("postage entered the catalog")
	}
	if !strings.Contains(rejects.String(), "_reason") || strings.Count(rejects.String(), "\n") != 6 {
		t.Fatalf("rejects file:\n%s", rejects.String())
	}
	// A second import of the same file writes the same event ids.
	again := newMem()
	importer.Events(context.Background(), bytes.NewReader(data), again, importer.Options{Name: "retail.csv", Preset: "online-retail"})
	for id := range m.events {
		if _, ok := again.events[id]; !ok {
			t.Fatalf("event id %d differs between two imports of one file", id)
		}
	}
}

func TestGenericCSVAndStrict(t *testing.T) {
	csv := "\ufeffuser,sku,when,qty,kind\n42,A,1700000000,2,purchase\n43,B,1700000100,-1,purchase\n44,C,1700000200,1,bogus\n"
	m := newMem()
	opts := importer.Options{Name: "x.csv", Map: map[string]string{"identity": "user", "item": "sku", "time": "when", "quantity": "qty", "type": "kind"},
		IdentityKind: "customer", TimeLayout: "unix"}
	sum, err := importer.Events(context.Background(), strings.NewReader(csv), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Imported != 2 || sum.Skipped["invalid type"] != 1 {
		t.Fatalf("%+v", sum)
	}
	for _, ev := range m.events {
		if ev.Alias.String() == "customer:43" && (ev.Type != engine.EventReturn || ev.Quantity != 1) {
			t.Fatalf("negative purchase should be a return: %+v", ev)
		}
		if ev.Alias.String() == "customer:42" && !ev.Time.Equal(time.Unix(1700000000, 0)) {
			t.Fatalf("unix time: %v", ev.Time)
		}
	}
	opts.Strict = true
	_, err = importer.Events(context.Background(), strings.NewReader(csv), importer.Discard, opts)
	if se, ok := err.(*importer.StrictError); !ok || se.Line != 4 {
		t.Fatalf("strict: %v", err)
	}
	// A missing required mapping is an error before any row is read.
	_, err = importer.Events(context.Background(), strings.NewReader(csv), m, importer.Options{Name: "x.csv"})
	if err == nil || !strings.Contains(err.Error(), "identity") {
		t.Fatalf("no identity column: %v", err)
	}
	_, err = importer.Events(context.Background(), strings.NewReader(csv), m, importer.Options{Name: "x.csv", Map: map[string]string{"identity": "nope"}})
	if err == nil || !strings.Contains(err.Error(), `no column "nope"`) {
		t.Fatalf("unknown column: %v", err)
	}
}

func TestNDJSONAndItems(t *testing.T) {
	nd := `{"id":"n1","alias":"customer:1","type":"view","item":"A","timestamp":"2024-01-01T00:00:00Z"}
{"id":"n1","alias":"customer:1","type":"view","item":"A","timestamp":"2024-01-01T00:00:00Z"}
{"alias":"customer:1","type":"teleport","item":"A"}
`
	m := newMem()
	sum, err := importer.Events(context.Background(), strings.NewReader(nd), m, importer.Options{Name: "e.ndjson"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Imported != 1 || sum.Skipped["duplicate id"] != 1 || sum.Skipped["invalid type"] != 1 {
		t.Fatalf("%+v", sum)
	}
	arr := `[{"alias":"customer:2","type":"view","item":"A","timestamp":"2024-01-01T00:00:00Z"},
	         {"alias":"customer:2","type":"view","item":"B","quantity":-1}]`
	sum, err = importer.Events(context.Background(), strings.NewReader(arr), m, importer.Options{Name: "e.json"})
	if err != nil || sum.Imported != 1 || sum.Skipped["invalid quantity"] != 1 {
		t.Fatalf("JSON array: %+v, %v", sum, err)
	}
	tsv := "id\ttitle\tprice\tcurrency\tavailable\nA\tMug\t3.5\teur\tno\nB\tBad\tx\tEUR\tyes\n"
	sum, err = importer.Items(context.Background(), strings.NewReader(tsv), m, importer.Options{Name: "items.tsv"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Imported != 1 || sum.Skipped["invalid price"] != 1 || m.items["A"].Available || m.items["A"].Currency != "EUR" {
		t.Fatalf("%+v %+v", sum, m.items["A"])
	}
}

func TestParseMap(t *testing.T) {
	if _, err := importer.ParseMap("identity=a,colour=b", importer.EventFields); err == nil {
		t.Fatal("unknown field accepted")
	}
	if _, err := importer.ParseMap("identity", importer.EventFields); err == nil {
		t.Fatal("entry without = accepted")
	}
	m, err := importer.ParseMap(" identity = CustomerID , item=StockCode", importer.EventFields)
	if err != nil || m["identity"] != "CustomerID" || m["item"] != "StockCode" {
		t.Fatalf("%v %v", m, err)
	}
}

func (m *memWriter) AddMember(engine.OrgID, engine.Alias) error { return nil }

// FuzzImportCSV checks that a CSV import never panics, accounts for every
// row, and writes only valid events.
func FuzzImportCSV(f *testing.F) {
	for _, s := range []string{
		"customer,sku,when,qty,org\n1,A,2026-01-01T10:00:00Z,2,ACME\n2,B,2026-01-02T10:00:00Z,-1,\n",
		"customer,sku,when,qty,org\n\"1\",\"A,B\",x,y,z\n",
		"customer,sku,when\n", "", "\xef\xbb\xbfcustomer,sku,when\n1,A,1\n", "a\"b,c\n",
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newMem()
		opts := importer.Options{Name: "f.csv", Map: map[string]string{"identity": "customer", "item": "sku", "time": "when", "quantity": "qty", "org": "org"},
			IdentityKind: "customer", Type: engine.EventPurchase, Now: now}
		sum, err := importer.Events(context.Background(), bytes.NewReader(data), m, opts)
		if err != nil {
			return // a file the importer refuses whole (no header, a missing column)
		}
		if sum.Rows != sum.Imported+sum.SkippedTotal() {
			t.Fatalf("rows %d ≠ imported %d + skipped %d", sum.Rows, sum.Imported, sum.SkippedTotal())
		}
		for _, ev := range m.events {
			if errs := ev.Validate(now); len(errs) > 0 {
				t.Fatalf("imported an invalid event %+v: %v", ev, errs)
			}
		}
	})
}

// TestEventIDsAreStable pins how a row becomes an event id: FNV-1a (64
// bits) over its fields, each followed by 0x1f, then the number of
// identical rows before it (4 bytes, little-endian); or FNV-1a over "id",
// 0x00 and the client id. Data dirs written by earlier versions depend on
// it: a re-import must rewrite the same keys, not add new ones.
func TestEventIDsAreStable(t *testing.T) {
	fnv1a := func(s string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(s))
		return h.Sum64()
	}
	csv := "identity,item,time,id\ncustomer:1,A,2024-01-02T03:04:05Z,\ncustomer:1,A,2024-01-02T03:04:05Z,\ncustomer:1,B,2024-01-02T03:04:05Z,ev-7\n"
	m := newMem()
	sum, err := importer.Events(context.Background(), strings.NewReader(csv), m, importer.Options{Name: "x.csv", Type: engine.EventPurchase})
	if err != nil || sum.Imported != 3 {
		t.Fatalf("%+v %v", sum, err)
	}
	row := "customer:1\x1fA\x1f2024-01-02T03:04:05Z\x1f\x1f"
	for _, id := range []uint64{fnv1a(row + "\x00\x00\x00\x00"), fnv1a(row + "\x01\x00\x00\x00"), fnv1a("id\x00ev-7")} {
		if _, ok := m.events[id]; !ok {
			t.Errorf("no event under id %x; ids: %v", id, slices.Collect(maps.Keys(m.events)))
		}
	}
}
