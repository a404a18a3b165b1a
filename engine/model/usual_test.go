package model_test

import (
	"testing"

	"rapport/engine/model"
)

func TestUsualQuantityAndInterval(t *testing.T) {
	for _, c := range []struct {
		orders []float64
		want   float64
	}{{nil, 0}, {[]float64{12}, 12}, {[]float64{12, 24, 12, 500}, 12}, {[]float64{24, 12}, 12}, {[]float64{6, 24, 24, 6, 24}, 24}} {
		if got := model.UsualQuantity(c.orders); got != c.want {
			t.Errorf("UsualQuantity(%v) = %v, want %v", c.orders, got, c.want)
		}
	}
	if got := model.MedianInterval([]int64{100, 107, 121, 128}); got != 7 {
		t.Errorf("MedianInterval = %v, want 7", got)
	}
	if got := model.MedianInterval([]int64{100}); got != 0 {
		t.Errorf("one order: %v", got)
	}
}
