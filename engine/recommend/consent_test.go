package recommend_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"rapport/engine"
	"rapport/engine/demo"
	"rapport/engine/model"
	"rapport/engine/recommend"
	"rapport/features"
	"rapport/store"
	"rapport/store/storetest"
)

// firstParty passes the demo shop to a loader without its social
// signals, which it keeps aside.
type firstParty struct {
	*store.Loader
	social *[]engine.Event
}

func (w firstParty) AddEvent(ev *engine.Event, id uint64) (bool, error) {
	if ev.Type.IsSocial() {
		*w.social = append(*w.social, *ev)
		return true, nil
	}
	return w.Loader.AddEvent(ev, id)
}

// AddConsent drops the demo's consents: here nobody consents.
func (w firstParty) AddConsent(engine.Alias, engine.Consent, uint64) error { return nil }

// TestConsentNonInterference builds two data directories from the same
// shop: one without any social signal, one that also holds the signals of
// people who never consented (in the EU) or withdrew (everyone else). The
// trained models are byte for byte the same, and so is every identity's
// list, reasons included.
func TestConsentNonInterference(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Hour)
	cfg := demo.DefaultConfig(11, now)
	cfg.Customers, cfg.Visitors, cfg.Items, cfg.Wholesale = 400, 100, 300, 5
	gate := features.NewGate(engine.DefaultConsentPolicy())

	type dir struct {
		db  *store.DB
		svc *recommend.Service
		art []byte
	}
	build := func(withSignals bool) dir {
		db := storetest.Open(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		l := db.NewLoader()
		var social []engine.Event
		if _, err := demo.Generate(ctx, cfg, firstParty{l, &social}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		// The signals arrive after the first-party data, so the people it
		// holds are numbered alike in both directories.
		if withSignals {
			l := db.NewLoader()
			for k := range social {
				if _, err := l.AddEvent(&social[k], uint64(1<<40+k)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
		// The same consent records in both: everyone outside the EU and UK
		// who would be allowed by default has withdrawn.
		err := db.ScanAliases(ctx, func(text string) error {
			a, _ := engine.ParseAlias(text)
			p, err := db.Identity(ctx, a)
			if err != nil {
				return err
			}
			if gate.Policy.For(p.Region, engine.PurposeSocial) && p.Aliases[0] == a {
				_, err = db.PutConsent(ctx, a, engine.Consent{Purpose: engine.PurposeSocial, Granted: false, Source: "test", Time: now.Add(-time.Hour)})
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		b := model.NewBuilder()
		if err := db.ScanEvents(ctx, func(id engine.IdentityID, ev *engine.Event) error { b.AddAs(id.Key(), ev); return nil }); err != nil {
			t.Fatal(err)
		}
		d := b.Build()
		mc := model.DefaultRankerConfig()
		mc.Factors, mc.Iterations = 8, 3
		tr, err := model.Train(ctx, d, mc, d.End().Unix(), nil)
		if err != nil {
			t.Fatal(err)
		}
		art, err := tr.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		serving := &model.Serving{}
		serving.Swap(&model.Loaded{Version: engine.ModelVersion{ID: "v1"}, Trained: tr})
		return dir{db, &recommend.Service{Store: db, Serving: serving, Gate: gate}, art}
	}
	plain, withSignals := build(false), build(true)

	stored := 0
	if err := withSignals.db.ScanEvents(ctx, func(_ engine.IdentityID, ev *engine.Event) error {
		if ev.Type.IsSocial() {
			stored++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stored < 50 {
		t.Fatalf("only %d social signals stored: the test would prove little", stored)
	}
	if !bytes.Equal(plain.art, withSignals.art) {
		t.Fatal("the models differ")
	}
	people := 0
	err := plain.db.ScanAliases(ctx, func(text string) error {
		people++
		a, _ := engine.ParseAlias(text)
		req := recommend.Request{N: 10, AvailableOnly: true}
		x, err := plain.svc.Recommend(ctx, a, req)
		if err != nil {
			return err
		}
		y, err := withSignals.svc.Recommend(ctx, a, req)
		if err != nil {
			return err
		}
		if fmt.Sprint(x.Step, x.Items) != fmt.Sprint(y.Step, y.Items) {
			return fmt.Errorf("%s: %v %v\nvs %v %v", a, x.Step, x.Items, y.Step, y.Items)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d social signals without consent; %d identities' lists identical", stored, people)
}
