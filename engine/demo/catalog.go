package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"rapport/engine"
)

// subcategory is the second level of the catalog tree.
type subcategory struct {
	name       string
	median     float64 // median price in EUR
	consumable bool    // bought again and again (coffee, shampoo, cat food)
	nouns      []string
}

// attribute is an item attribute key with the values it takes in a category.
type attribute struct {
	key    string
	values []string
}

// category is a top level of the catalog tree with its shape: how many items
// and shoppers it draws (weight), how widely prices spread (sigma), how its
// activity moves through the year (season, January first) and which other
// categories its items are bought with (related).
type category struct {
	name       string
	weight     float64
	sigma      float64
	season     [12]float64
	related    []int
	returnRate float64
	adjectives []string
	attrs      []attribute
	subs       []subcategory
}

var colors = []string{"black", "white", "grey", "navy", "red", "green", "olive", "sand", "blue", "pink"}

var flat = [12]float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}

// Category indices, for the related lists.
const (
	catHome = iota
	catGarden
	catElectronics
	catFashion
	catBeauty
	catSports
	catToys
	catBooks
	catGrocery
	catPets
)

var categories = []category{
	catHome: {name: "Home", weight: 1.4, sigma: 0.55, season: flat, related: []int{catGrocery, catGarden}, returnRate: 0.05,
		adjectives: []string{"Classic", "Nordic", "Rustic", "Modern", "Essential"},
		attrs:      []attribute{{"color", colors}, {"material", []string{"Ceramic", "Oak", "Linen", "Cotton", "Glass", "Steel"}}},
		subs: []subcategory{
			{"Kitchen", 24, false, []string{"Mug", "Frying Pan", "Knife Set", "Cutting Board", "Kettle", "Teapot", "Mixing Bowl"}},
			{"Decor", 30, false, []string{"Vase", "Candle", "Photo Frame", "Cushion", "Throw", "Wall Clock"}},
			{"Bath", 20, false, []string{"Towel", "Bath Mat", "Soap Dish", "Bathrobe", "Shower Caddy"}},
		}},
	catGarden: {name: "Garden", weight: 0.7, sigma: 0.7, related: []int{catHome, catPets}, returnRate: 0.04,
		season:     [12]float64{0.3, 0.4, 0.8, 1.5, 2.0, 2.1, 1.9, 1.4, 0.9, 0.6, 0.4, 0.35},
		adjectives: []string{"Sturdy", "Compact", "Weatherproof", "Classic"},
		attrs:      []attribute{{"material", []string{"Steel", "Teak", "Rattan", "Terracotta", "Recycled"}}},
		subs: []subcategory{
			{"Tools", 22, false, []string{"Trowel", "Pruner", "Rake", "Garden Hose", "Watering Can", "Spade"}},
			{"Plants", 12, false, []string{"Seed Kit", "Planter", "Herb Pot", "Bulb Set", "Plant Feed"}},
			{"Outdoor Furniture", 140, false, []string{"Garden Chair", "Bench", "Parasol", "Sun Lounger", "Bistro Set"}},
		}},
	catElectronics: {name: "Electronics", weight: 1.2, sigma: 0.8, related: []int{catSports, catHome}, returnRate: 0.08,
		season:     [12]float64{0.9, 0.85, 0.9, 0.9, 0.95, 0.95, 0.95, 1, 1, 1.05, 1.4, 1.5},
		adjectives: []string{"Wireless", "Pro", "Mini", "Smart", "Ultra"},
		attrs:      []attribute{{"color", []string{"black", "white", "silver", "graphite"}}},
		subs: []subcategory{
			{"Audio", 70, false, []string{"Headphones", "Speaker", "Earbuds", "Soundbar"}},
			{"Accessories", 18, false, []string{"Charger", "USB-C Cable", "Power Bank", "Phone Case", "Screen Protector"}},
			{"Smart Home", 45, false, []string{"Smart Plug", "Smart Bulb", "Security Camera", "Thermostat"}},
		}},
	catFashion: {name: "Fashion", weight: 1.6, sigma: 0.5, related: []int{catBeauty, catSports}, returnRate: 0.18,
		season:     [12]float64{0.9, 0.9, 1.1, 1.1, 1, 1, 0.95, 0.95, 1.1, 1.1, 1, 1},
		adjectives: []string{"Relaxed", "Slim", "Classic", "Vintage", "Everyday"},
		attrs:      []attribute{{"color", colors}, {"material", []string{"Cotton", "Linen", "Wool", "Denim", "Leather"}}, {"size", []string{"XS", "S", "M", "L", "XL"}}},
		subs: []subcategory{
			{"Women", 45, false, []string{"Dress", "Blouse", "Scarf", "Skirt", "Cardigan"}},
			{"Men", 45, false, []string{"Shirt", "Chinos", "Jacket", "Sweater", "Polo"}},
			{"Shoes", 70, false, []string{"Sneakers", "Boots", "Sandals", "Loafers"}},
			{"Bags", 40, false, []string{"Tote", "Backpack", "Wallet", "Crossbody Bag"}},
		}},
	catBeauty: {name: "Beauty", weight: 1.0, sigma: 0.5, related: []int{catFashion}, returnRate: 0.02,
		season:     [12]float64{0.9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1.1, 1.4},
		adjectives: []string{"Hydrating", "Gentle", "Organic", "Daily", "Repair"},
		attrs:      []attribute{{"scent", []string{"unscented", "citrus", "lavender", "rose", "cedar"}}},
		subs: []subcategory{
			{"Skincare", 18, true, []string{"Cleanser", "Serum", "Moisturiser", "Face Mask", "Sun Cream"}},
			{"Haircare", 11, true, []string{"Shampoo", "Conditioner", "Hair Oil", "Styling Cream"}},
			{"Fragrance", 45, false, []string{"Eau de Parfum", "Body Mist", "Candle Gift Set"}},
		}},
	catSports: {name: "Sports", weight: 0.9, sigma: 0.7, related: []int{catFashion, catElectronics}, returnRate: 0.06,
		season:     [12]float64{1.5, 1.1, 1, 1, 1.1, 1.2, 1.2, 1.1, 0.9, 0.85, 0.85, 0.9},
		adjectives: []string{"Lightweight", "Trail", "Pro", "Foldable", "Essential"},
		attrs:      []attribute{{"color", colors}},
		subs: []subcategory{
			{"Fitness", 30, false, []string{"Yoga Mat", "Dumbbell Set", "Resistance Band", "Kettlebell", "Foam Roller"}},
			{"Outdoor", 55, false, []string{"Tent", "Sleeping Bag", "Hiking Poles", "Headlamp", "Daypack"}},
			{"Cycling", 35, false, []string{"Bike Light", "Helmet", "Bike Lock", "Water Bottle", "Saddle Bag"}},
		}},
	catToys: {name: "Toys", weight: 0.7, sigma: 0.6, related: []int{catBooks}, returnRate: 0.05,
		season:     [12]float64{0.7, 0.7, 0.75, 0.8, 0.8, 0.8, 0.8, 0.8, 0.85, 1, 1.6, 2.4},
		adjectives: []string{"Junior", "Deluxe", "Classic", "Wooden", "Mini"},
		attrs:      []attribute{{"age", []string{"3+", "6+", "8+", "12+"}}},
		subs: []subcategory{
			{"Building", 35, false, []string{"Brick Set", "Construction Kit", "Marble Run"}},
			{"Games", 22, false, []string{"Board Game", "Jigsaw Puzzle", "Card Game", "Party Game"}},
			{"Plush", 18, false, []string{"Teddy Bear", "Plush Fox", "Plush Bunny"}},
		}},
	catBooks: {name: "Books", weight: 0.8, sigma: 0.35, related: []int{catToys, catGrocery}, returnRate: 0.02,
		season:     [12]float64{0.9, 0.9, 0.9, 0.95, 1, 1.05, 1.2, 1.2, 0.95, 0.95, 1.1, 1.3},
		adjectives: []string{"Collected", "Illustrated", "Complete", "Little", "New"},
		attrs:      []attribute{{"format", []string{"Hardback", "Paperback"}}},
		subs: []subcategory{
			{"Fiction", 14, false, []string{"Novel", "Thriller", "Short Stories", "Mystery"}},
			{"Cooking", 22, false, []string{"Cookbook", "Baking Guide", "Vegetarian Kitchen"}},
			{"Children", 10, false, []string{"Picture Book", "Activity Book", "Bedtime Stories"}},
		}},
	catGrocery: {name: "Grocery", weight: 0.9, sigma: 0.5, season: flat, related: []int{catHome, catBooks}, returnRate: 0.01,
		adjectives: []string{"Organic", "Single Origin", "Artisan", "Fairtrade", "Classic"},
		attrs:      []attribute{{"origin", []string{"Italy", "Colombia", "Kenya", "Spain", "India", "Greece"}}},
		subs: []subcategory{
			{"Coffee & Tea", 9, true, []string{"Coffee Beans", "Ground Coffee", "Green Tea", "Herbal Tea", "Espresso Pods"}},
			{"Pantry", 6, true, []string{"Olive Oil", "Pasta", "Honey", "Granola", "Pesto"}},
			{"Snacks", 4, true, []string{"Chocolate Bar", "Nut Mix", "Crackers", "Dried Mango"}},
		}},
	catPets: {name: "Pets", weight: 0.6, sigma: 0.7, season: flat, related: []int{catGarden, catGrocery}, returnRate: 0.02,
		adjectives: []string{"Premium", "Grain-Free", "Cosy", "Durable"},
		attrs:      []attribute{{"size", []string{"S", "M", "L"}}},
		subs: []subcategory{
			{"Dog", 16, true, []string{"Dog Food", "Chew Toy", "Leash", "Dog Bed", "Dog Treats"}},
			{"Cat", 14, true, []string{"Cat Food", "Cat Litter", "Scratching Post", "Cat Toy", "Cat Treats"}},
		}},
}

var brandNames = []string{
	"Acme", "Nordvik", "Lumen", "Brightwell", "Oakridge", "Verdant", "Kestrel", "Solace", "Marlow", "Pinecrest",
	"Halcyon", "Tidewater", "Ember", "Northwind", "Copperleaf", "Bramble", "Fjord", "Aurelia", "Cobalt", "Wren",
	"Juniper", "Vela", "Sable", "Linden", "Orla", "Quill", "Rook", "Saffron", "Thistle", "Umbra",
	"Voss", "Willow", "Yarrow", "Zephyr", "Alder", "Birch & Bloom", "Cinder", "Dune", "Fable", "Greystone",
}

// brand is a maker tied to one to three categories. Its strength sets how
// many items and sales it gets; its price factor makes it cheap or premium.
type brand struct {
	name   string
	cats   []int
	weight float64
	price  float64
}

// product is a catalog item with what the generator needs to know about it.
type product struct {
	item    engine.Item
	cat     int // top category index
	sub     int // global subcategory index
	brand   int
	quality float64 // roughly -1..1; drives ratings
	until   int     // last day it can be bought (discontinued items stop early)
	bundle  []int   // complementary items, bought together
}

// catalog is the generated shop with pools for sampling items by popularity.
type catalog struct {
	products   []product
	brands     []brand
	subTop     []int // global subcategory index → top category
	subName    []string
	all        pool
	byTop      []pool
	bySub      []pool
	byBrand    [][]pool // [top][brand]
	consumable []pool   // per top category; index len(categories) is all consumables
	brandsOf   [][]int  // top category → brands tied to it
	catWeights cumulative
}

func newCatalog(rng *rand.Rand, n, days int) *catalog {
	c := &catalog{byTop: make([]pool, len(categories)), byBrand: make([][]pool, len(categories)),
		consumable: make([]pool, len(categories)+1), brandsOf: make([][]int, len(categories))}
	for t, cat := range categories {
		c.catWeights = c.catWeights.add(cat.weight)
		c.byBrand[t] = make([]pool, len(brandNames))
		for _, s := range cat.subs {
			c.subTop = append(c.subTop, t)
			c.subName = append(c.subName, cat.name+" > "+s.name)
		}
	}
	c.bySub = make([]pool, len(c.subTop))
	for i, name := range brandNames {
		b := brand{name: name, cats: []int{i % len(categories)}, weight: math.Exp(0.8 * rng.NormFloat64()), price: 0.75 + 0.7*rng.Float64()}
		for extra := rng.IntN(3); extra > 0; extra-- {
			if t := rng.IntN(len(categories)); !slices.Contains(b.cats, t) {
				b.cats = append(b.cats, t)
			}
		}
		for _, t := range b.cats {
			c.brandsOf[t] = append(c.brandsOf[t], i)
		}
		c.brands = append(c.brands, b)
	}
	rank := rng.Perm(n)
	for i := range n {
		c.products = append(c.products, c.newProduct(rng, i, rank[i], days))
	}
	for i := range c.products {
		p := &c.products[i]
		p.bundle = c.pickBundle(rng, i)
	}
	return c
}

// newProduct makes item i; popularity falls with rank like Zipf's law.
func (c *catalog) newProduct(rng *rand.Rand, i, rank, days int) product {
	sub := i
	if i >= len(c.subTop) { // the first items cover every subcategory
		t := c.catWeights.pick(rng)
		sub = c.firstSub(t) + rng.IntN(len(categories[t].subs))
	}
	t := c.subTop[sub]
	cat, sc := &categories[t], &categories[t].subs[sub-c.firstSub(t)]
	var bw cumulative
	for _, b := range c.brandsOf[t] {
		bw = bw.add(c.brands[b].weight)
	}
	b := c.brandsOf[t][bw.pick(rng)]
	p := product{cat: t, sub: sub, brand: b, until: days, quality: clamp(0.5*rng.NormFloat64(), -1, 1)}
	adj := cat.adjectives[rng.IntN(len(cat.adjectives))]
	var attrs map[string]string
	if rng.Float64() < 0.7 {
		attrs = make(map[string]string, len(cat.attrs))
		for _, a := range cat.attrs {
			v := a.values[rng.IntN(len(a.values))]
			attrs[a.key] = v
			if a.key == "material" && rng.Float64() < 0.7 {
				adj = v
			}
		}
	}
	price := charm(sc.median * c.brands[b].price * math.Exp(cat.sigma*rng.NormFloat64()))
	available := rng.Float64() >= 0.05
	if !available {
		p.until = days/3 + rng.IntN(days-days/3)
	}
	p.item = engine.Item{
		ID:         itemID(i),
		Title:      c.brands[b].name + " " + adj + " " + sc.nouns[rng.IntN(len(sc.nouns))],
		Category:   c.subName[sub],
		Brand:      c.brands[b].name,
		Price:      price,
		Currency:   "EUR",
		Available:  available,
		Attributes: attrs,
	}
	w := math.Pow(float64(rank+1), -1.05) * math.Exp(0.3*p.quality)
	c.all.add(i, w)
	c.byTop[t].add(i, w)
	c.bySub[sub].add(i, w)
	c.byBrand[t][b].add(i, w)
	if sc.consumable {
		c.consumable[t].add(i, w)
		c.consumable[len(categories)].add(i, w)
	}
	return p
}

// pickBundle chooses two to four items bought with item i: mostly from its
// own subcategory, else from its category or a related one.
func (c *catalog) pickBundle(rng *rand.Rand, i int) []int {
	p := &c.products[i]
	n := 2 + rng.IntN(3)
	bundle := make([]int, 0, n)
	for try := 0; len(bundle) < n && try < 4*n; try++ {
		var from *pool
		switch r := rng.Float64(); {
		case r < 0.5:
			from = &c.bySub[p.sub]
		case r < 0.8:
			from = &c.byTop[p.cat]
		default:
			rel := categories[p.cat].related
			from = &c.byTop[rel[rng.IntN(len(rel))]]
		}
		j := from.pick(rng)
		if j >= 0 && j != i && !slices.Contains(bundle, j) {
			bundle = append(bundle, j)
		}
	}
	return bundle
}

func (c *catalog) firstSub(t int) int {
	for s, top := range c.subTop {
		if top == t {
			return s
		}
	}
	return 0
}

// buyable reports whether item i can be bought on day d.
func (c *catalog) buyable(i, d int) bool { return d <= c.products[i].until }

// itemID names the i-th item (0-based) "SKU-00001".
func itemID(i int) string { return fmt.Sprintf("SKU-%05d", i+1) }

// charm rounds a price to end in .99 (or .49 under 10 EUR).
func charm(p float64) float64 {
	if p < 10 {
		return math.Max(0.99, math.Round(p*2)/2-0.01)
	}
	return math.Floor(p) + 0.99
}

// pool samples items in proportion to their popularity.
type pool struct {
	items []int
	cum   cumulative
}

func (p *pool) add(i int, w float64) {
	p.items = append(p.items, i)
	p.cum = p.cum.add(w)
}

// pick returns an item, or -1 when the pool is empty.
func (p *pool) pick(rng *rand.Rand) int {
	if len(p.items) == 0 {
		return -1
	}
	return p.items[p.cum.pick(rng)]
}

// cumulative holds running totals of weights for sampling an index.
type cumulative []float64

func (c cumulative) add(w float64) cumulative {
	if len(c) > 0 {
		w += c[len(c)-1]
	}
	return append(c, w)
}

// pick returns an index with probability proportional to its weight.
func (c cumulative) pick(rng *rand.Rand) int { return c.pickRange(rng, 0, len(c)) }

// pickRange picks an index in [lo, hi).
func (c cumulative) pickRange(rng *rand.Rand, lo, hi int) int {
	base := 0.0
	if lo > 0 {
		base = c[lo-1]
	}
	x := base + rng.Float64()*(c[hi-1]-base)
	i, j := lo, hi-1
	for i < j { // first index whose running total exceeds x
		m := int(uint(i+j) >> 1)
		if c[m] > x {
			j = m
		} else {
			i = m + 1
		}
	}
	return i
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
