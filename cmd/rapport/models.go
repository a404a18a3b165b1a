package main

import (
	"fmt"
	"strings"
	"time"

	"rapport/engine/model"
)

// modelNames lists the models eval can build by name.
var modelNames = []string{"popularity", "popularity-region", "trending", "trending-region", "frequency", "reorder", "seasonal", "itemknn-cosine", "itemknn-jaccard", "itemknn-llr", "als", "ranker", "buy-again"}

// buildModels makes the named models with their default settings; with
// trackLoss, models with an ALS part record its loss by iteration.
func buildModels(list string, seed int64, trackLoss bool) ([]model.Model, error) {
	cfg := model.DefaultRankerConfig()
	cfg.Seed = uint64(seed)
	var out []model.Model
	for _, name := range strings.Split(list, ",") {
		switch strings.TrimSpace(name) {
		case "popularity":
			out = append(out, &model.Popularity{})
		case "popularity-region":
			out = append(out, &model.Popularity{ByRegion: true})
		case "trending":
			out = append(out, &model.Popularity{HalfLife: cfg.TrendingHalfLife})
		case "trending-region":
			out = append(out, &model.Popularity{HalfLife: cfg.TrendingHalfLife, ByRegion: true})
		case "frequency":
			out = append(out, &model.Reorder{})
		case "reorder":
			out = append(out, &model.Reorder{HalfLife: 90 * 24 * time.Hour, Cadence: 0.5})
		case "seasonal":
			out = append(out, &model.Popularity{Season: cfg.SeasonWidth})
		case "als":
			out = append(out, &model.ALS{Factors: cfg.Factors, Iterations: cfg.Iterations, Lambda: cfg.Lambda, Alpha: cfg.Alpha, Seed: cfg.Seed, TrackLoss: trackLoss})
		case "ranker":
			r := model.NewRanker(cfg)
			r.ALS.TrackLoss = trackLoss
			out = append(out, r)
		case "buy-again":
			out = append(out, model.NewBuyAgain(cfg))
		case "itemknn-cosine":
			out = append(out, &model.ItemKNN{Similarity: model.Cosine, HalfLife: cfg.HistoryHalfLife})
		case "itemknn-jaccard":
			out = append(out, &model.ItemKNN{Similarity: model.Jaccard, HalfLife: cfg.HistoryHalfLife})
		case "itemknn-llr":
			out = append(out, &model.ItemKNN{Similarity: model.LLR, HalfLife: cfg.HistoryHalfLife})
		default:
			return nil, fmt.Errorf("unknown model %q (models: %s)", name, strings.Join(modelNames, ", "))
		}
	}
	return out, nil
}
