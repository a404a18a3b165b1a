package engine_test

import (
	"slices"
	"testing"
	"time"

	"rapport/engine"
)

func TestMergePreferencesNewerWins(t *testing.T) {
	old := engine.Preferences{FavouriteBrands: []string{"Acme", "Leaf"}, ExcludedCategories: []string{"Toys"},
		Sizes: map[string]string{"shoes": "41", "shirts": "M"}, Communication: map[string]bool{"email": true}, UpdatedAt: time.Unix(100, 0)}
	newer := engine.Preferences{ExcludedBrands: []string{"Leaf"}, FavouriteCategories: []string{"Toys"},
		Sizes: map[string]string{"shoes": "42"}, Communication: map[string]bool{"email": false}, UpdatedAt: time.Unix(200, 0)}
	for _, m := range []engine.Preferences{engine.MergePreferences(old, newer), engine.MergePreferences(newer, old)} {
		if !slices.Equal(m.FavouriteBrands, []string{"Acme"}) || !slices.Equal(m.ExcludedBrands, []string{"Leaf"}) ||
			!slices.Equal(m.FavouriteCategories, []string{"Toys"}) || len(m.ExcludedCategories) != 0 ||
			m.Sizes["shoes"] != "42" || m.Sizes["shirts"] != "M" || m.Communication["email"] || !m.UpdatedAt.Equal(newer.UpdatedAt) {
			t.Errorf("merged: %+v", m)
		}
	}
}
