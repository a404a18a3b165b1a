package api

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"

	"rapport/engine"
)

// opDoc is what the OpenAPI document says about a route beyond its table row.
type opDoc struct {
	request  string  // component schema of the body, if any
	response string  // component schema of the 2xx body, if any
	query    []param // query parameters
}

type param struct{ name, typ, description string }

var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// openAPIPath turns Gin's /v1/items/:item into OpenAPI's /v1/items/{item}.
func openAPIPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

func (s *Server) openAPI(c *gin.Context) { c.PureJSON(http.StatusOK, s.OpenAPI()) }

// OpenAPI returns the OpenAPI 3 document generated from the route table.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range s.routes() {
		p := openAPIPath(rt.path)
		ops, _ := paths[p].(map[string]any)
		if ops == nil {
			ops = map[string]any{}
			paths[p] = ops
		}
		ops[strings.ToLower(rt.method)] = operation(rt)
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Rapport",
			"version":     s.Version,
			"description": "Personalization keyed on customer identity. Every /v1 route needs Authorization: Bearer <API key>; x-roles lists the key roles that may call it.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"apiKey": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas":         schemas,
		},
	}
}

func operation(rt route) map[string]any {
	op := map[string]any{"summary": rt.summary, "operationId": operationID(rt)}
	var params []any
	for _, m := range ginParam.FindAllStringSubmatch(rt.path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, q := range rt.doc.query {
		params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.description, "schema": map[string]any{"type": q.typ}})
	}
	if params != nil {
		op["parameters"] = params
	}
	if rt.doc.request != "" {
		content := map[string]any{"application/json": map[string]any{"schema": ref(rt.doc.request)}}
		if strings.HasSuffix(rt.doc.request, "Batch") {
			content["application/x-ndjson"] = map[string]any{"schema": map[string]any{"type": "string", "description": "one JSON object a line"}}
		}
		op["requestBody"] = map[string]any{"required": true, "content": content}
	}
	ok := map[string]any{"description": "OK"}
	if rt.doc.response != "" {
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": ref(rt.doc.response)}}
	}
	okStatus := "200"
	switch {
	case rt.method == "POST" && rt.path == "/v1/keys":
		okStatus = "201"
	case rt.method == "POST" && rt.path == "/v1/jobs/:name/runs":
		okStatus = "202"
	}
	errResp := map[string]any{"description": "Error", "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
	responses := map[string]any{okStatus: ok, "default": errResp}
	if rt.roles != nil {
		op["security"] = []any{map[string]any{"apiKey": []any{}}}
		roles := make([]string, len(rt.roles))
		for i, r := range rt.roles {
			roles[i] = string(r)
		}
		op["x-roles"] = roles
		responses["401"] = errResp
		responses["403"] = errResp
	}
	op["responses"] = responses
	return op
}

func operationID(rt route) string {
	parts := strings.FieldsFunc(strings.ToLower(rt.method)+"/"+rt.path, func(r rune) bool { return r == '/' || r == ':' || r == '.' })
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func obj(required []string, props map[string]any) map[string]any {
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if required != nil {
		o["required"] = required
	}
	return o
}

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
func num(desc string) map[string]any { return map[string]any{"type": "number", "description": desc} }
func integer() map[string]any        { return map[string]any{"type": "integer"} }
func stringMap() map[string]any {
	return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}, "description": "free-form strings: at most 32 entries, 4 KiB in all"}
}
func arrayOf(s map[string]any) map[string]any { return map[string]any{"type": "array", "items": s} }

var recommendDoc = []param{
	{"n", "integer", "1 to 100 (default 10)"}, {"offset", "integer", "0 to 1000"},
	{"category", "string", "repeatable: only these categories (or below them)"}, {"brand", "string", "repeatable: only these brands"},
	{"exclude_category", "string", "repeatable"}, {"exclude", "string", "repeatable item ids"},
	{"min_price", "number", ""}, {"max_price", "number", ""}, {"available_only", "boolean", "default true"},
	{"context_item", "string", "the item being viewed"}, {"placement", "string", "a name you choose; echoed and counted"},
	{"include_purchased", "boolean", "default false: purchased items are left out"}, {"include", "string", "item: embed catalog records"},
	{"preview", "boolean", "default false: a look by staff, outside every A/B experiment"},
}

var recItem = obj(nil, map[string]any{"item": str(""), "rank": integer(), "score": num(""),
	"reasons": arrayOf(str("which model or rule put it there")), "details": ref("Item")})

var schemas = map[string]any{
	"Error": obj([]string{"error"}, map[string]any{"error": obj([]string{"code", "message"}, map[string]any{
		"code":    str("invalid, unauthorized, forbidden, not_found, conflict, too_large, no_consent, rate_limited, unavailable, insufficient_storage or internal"),
		"message": str("what went wrong, safe to show"),
		"details": arrayOf(obj(nil, map[string]any{"index": integer(), "field": str(""), "reason": str("")})),
	})}),
	"Health": obj(nil, map[string]any{"status": str("ok or ready"), "version": str("")}),
	"Event": obj([]string{"alias", "type"}, map[string]any{
		"id":         str("optional client id, unique per alias; an event whose id is already stored under its alias is a duplicate and is not stored again"),
		"alias":      str("kind:value — anon, email, customer, loyalty, b2b or social:<provider>"),
		"type":       map[string]any{"type": "string", "enum": eventTypeNames()},
		"item":       str("item id; required for item events"),
		"target":     str("social events: brand:X, category:X, topic:X or another person's alias"),
		"quantity":   num("greater than 0, at most 1,000,000; default 1"),
		"price":      num("unit price, 0 to 10,000,000"),
		"currency":   str("ISO 4217; required with a price"),
		"timestamp":  map[string]any{"type": "string", "format": "date-time", "description": "RFC 3339; default now; at most 5 minutes in the future"},
		"source":     str("web, app, pos, … or social:<provider>"),
		"region":     str("e.g. EU, US-CA or a country"),
		"weight":     num("rating (0 to 10) for ratings; otherwise an optional weight 0 to 1000"),
		"attributes": stringMap(),
	}),
	"EventBatch":   arrayOf(ref("Event")),
	"IngestResult": obj(nil, map[string]any{"accepted": integer(), "duplicates": integer(), "dropped_social_signals": integer()}),
	"EventPage":    obj(nil, map[string]any{"alias": str(""), "events": arrayOf(ref("Event")), "next_cursor": str("")}),
	"Item": obj([]string{"id"}, map[string]any{
		"id": str("item id"), "title": str(""), "category": str(""), "brand": str(""),
		"price": num(""), "currency": str("ISO 4217"), "available": map[string]any{"type": "boolean", "description": "default true"},
		"attributes": stringMap(), "updated_at": map[string]any{"type": "string", "format": "date-time", "readOnly": true},
	}),
	"ItemBatch":      arrayOf(ref("Item")),
	"PutItemsResult": obj(nil, map[string]any{"upserted": integer()}),
	"KeyRequest": obj([]string{"role"}, map[string]any{"role": map[string]any{"type": "string", "enum": []string{"browser", "ingest", "storefront", "portal", "data", "admin"}}, "name": str(""),
		"org": str("scope the key to one organisation (portal and storefront keys)"), "rate": num("the key's own rate limit, requests per second (0: the server's)")}),
	"Key": obj(nil, map[string]any{"id": str(""), "name": str(""), "role": str(""),
		"created_at": map[string]any{"type": "string", "format": "date-time"}, "revoked_at": map[string]any{"type": "string", "format": "date-time"}}),
	"CreatedKey": obj(nil, map[string]any{"key": ref("Key"), "secret": str("shown once; store it now")}),
	"KeyList":    obj(nil, map[string]any{"keys": arrayOf(ref("Key"))}),
	"Recommendations": obj(nil, map[string]any{"alias": str(""), "recommendation_id": str("reference it in feedback events"),
		"model_version": str(""), "step": str("trending, item-to-item or blend: the fallback step used"), "placement": str(""), "items": arrayOf(recItem)}),
	"List": obj(nil, map[string]any{"model_version": str(""), "items": arrayOf(recItem)}),
	"BuyAgain": obj(nil, map[string]any{"alias": str(""), "model_version": str(""), "items": arrayOf(obj(nil, map[string]any{
		"item": str(""), "rank": integer(), "score": num(""), "orders": integer(), "usual_quantity": num("median quantity per purchase"),
		"last_purchased": map[string]any{"type": "string", "format": "date-time"}, "interval_days": num("median days between purchases"),
		"due_at": map[string]any{"type": "string", "format": "date-time"}, "due": map[string]any{"type": "boolean"}, "reasons": arrayOf(str(""))}))}),
	"JobRun": obj(nil, map[string]any{"id": str(""), "job": str(""), "trigger": str("schedule or manual"),
		"started_at": map[string]any{"type": "string", "format": "date-time"}, "ended_at": map[string]any{"type": "string", "format": "date-time"},
		"status": str("running, succeeded, failed or canceled"), "counts": map[string]any{"type": "object", "additionalProperties": integer()}, "error": str("")}),
	"JobList": obj(nil, map[string]any{"replica": str("the replica that answered"), "leader": map[string]any{"type": "boolean", "description": "whether it runs the scheduled jobs now"}, "jobs": arrayOf(obj(nil, map[string]any{"name": str(""), "schedule": str("cron spec or off"),
		"next_run": map[string]any{"type": "string", "format": "date-time"}, "running": map[string]any{"type": "boolean"},
		"skipped_overlapping": integer(), "recent_runs": arrayOf(ref("JobRun"))}))}),
	"Identity": obj(nil, map[string]any{"stage": str("anonymous, known, registered or authenticated"), "region": str(""),
		"aliases": arrayOf(str("")), "authenticated": arrayOf(str("aliases the person logged in with")),
		"created_at": map[string]any{"type": "string", "format": "date-time"}, "updated_at": map[string]any{"type": "string", "format": "date-time"}}),
	"Consent": obj(nil, map[string]any{"purpose": str(""), "granted": map[string]any{"type": "boolean"}, "source": str("policy for a regional default"),
		"time": map[string]any{"type": "string", "format": "date-time"}, "expires": map[string]any{"type": "string", "format": "date-time"},
		"policy_version": str(""), "default": map[string]any{"type": "boolean"}, "alias": str("the alias it was given under")}),
	"IdentityDetails": obj(nil, map[string]any{"identity": ref("Identity"), "consents": arrayOf(ref("Consent")),
		"counts": map[string]any{"type": "object", "additionalProperties": integer()}}),
	"LinkRequest":  obj([]string{"alias"}, map[string]any{"alias": str("the alias to link"), "authenticated": map[string]any{"type": "boolean", "description": "the person just logged in with it"}}),
	"LinkResult":   obj(nil, map[string]any{"identity": ref("Identity"), "merged": map[string]any{"type": "boolean"}, "joined": map[string]any{"type": "boolean"}}),
	"UnlinkResult": obj(nil, map[string]any{"kept": ref("Identity"), "split": ref("Identity")}),
	"LinkList": obj(nil, map[string]any{"links": arrayOf(obj(nil, map[string]any{"op": str("link, merge or unlink"), "alias": str(""),
		"identity": integer(), "from": integer(), "authenticated": map[string]any{"type": "boolean"}, "time": map[string]any{"type": "string", "format": "date-time"}}))}),
	"ConsentRequest": obj([]string{"granted"}, map[string]any{"granted": map[string]any{"type": "boolean"}, "source": str("where it was collected (default api)"),
		"time": map[string]any{"type": "string", "format": "date-time", "description": "default now"}, "expires": map[string]any{"type": "string", "format": "date-time"},
		"policy_version": str("")}),
	"ConsentResult": obj(nil, map[string]any{"consent": ref("Consent"), "effective": arrayOf(ref("Consent")), "purged_social_signals": integer()}),
	"ConsentList":   obj(nil, map[string]any{"effective": arrayOf(ref("Consent")), "history": arrayOf(ref("Consent"))}),
	"Export": obj(nil, map[string]any{"exported_at": map[string]any{"type": "string", "format": "date-time"}, "identity": ref("Identity"),
		"consents": obj(nil, map[string]any{"effective": arrayOf(ref("Consent")), "history": arrayOf(ref("Consent"))}),
		"links":    arrayOf(map[string]any{"type": "object"}), "events": arrayOf(ref("Event")), "social_signals": arrayOf(ref("Event")),
		"feature_vector": map[string]any{"type": "object", "description": "with provenance: each source, its signal count, the consent that permitted it"}}),
	"Erasure": obj(nil, map[string]any{"id": str("receipt id"), "status": str("pending, removing or done"),
		"requested_at": map[string]any{"type": "string", "format": "date-time"}, "completed_at": map[string]any{"type": "string", "format": "date-time"},
		"held":    map[string]any{"type": "object", "additionalProperties": integer(), "description": "per layer, at the request"},
		"removed": map[string]any{"type": "object", "additionalProperties": integer(), "description": "per layer, by the erasure job (references_held_by_others: other people's signals that named the person)"},
		"remains": arrayOf(obj(nil, map[string]any{"layer": str("backups, redis_snapshots or redis_aof"), "count": integer(),
			"copies": arrayOf(obj(nil, map[string]any{"at": map[string]any{"type": "string", "format": "date-time"}, "where": str("a backup file, or the Redis server")})),
			"until":  str("until when these copies hold the person")}))}),
	"Preferences": obj(nil, map[string]any{"favourite_categories": arrayOf(str("")), "favourite_brands": arrayOf(str("")),
		"excluded_categories": arrayOf(str("never recommended, nor anything below them")), "excluded_brands": arrayOf(str("never recommended")),
		"sizes": stringMap(), "communication": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "boolean"}, "description": "email, sms, push, post or phone"},
		"updated_at": map[string]any{"type": "string", "format": "date-time", "readOnly": true}}),
	"Explanation": obj(nil, map[string]any{"recommendation_id": str(""), "served_at": map[string]any{"type": "string", "format": "date-time"},
		"model_version": str(""), "step": str(""), "placement": str(""),
		"signals": arrayOf(obj(nil, map[string]any{"source": str("events or social:<provider>"), "kind": str("history or the social event type"),
			"target": str(""), "time": map[string]any{"type": "string", "format": "date-time"}, "count": integer(), "consent": ref("Consent")})),
		"items": arrayOf(obj(nil, map[string]any{"item": str(""), "rank": integer(), "score": num(""),
			"parts": map[string]any{"type": "object", "additionalProperties": num(""), "description": "item-to-item, als, seasonal, trending, context, social"},
			"boost": num("rules and favourites; 1 for none"), "signals": arrayOf(integer()), "reasons": arrayOf(str(""))}))}),
	"OrgRequest":    obj([]string{"name"}, map[string]any{"name": str("display name, 1 to 128 bytes")}),
	"MemberRequest": obj([]string{"role"}, map[string]any{"role": map[string]any{"type": "string", "enum": []string{"admin", "buyer", "approver", "viewer"}}}),
	"Member":        obj(nil, map[string]any{"alias": str(""), "role": str(""), "added_at": map[string]any{"type": "string", "format": "date-time"}}),
	"MemberRemoved": obj(nil, map[string]any{"org": str(""), "removed": str("the alias"), "at": map[string]any{"type": "string", "format": "date-time"}}),
	"Org": obj(nil, map[string]any{"id": str(""), "name": str(""), "members": arrayOf(ref("Member")),
		"created_at": map[string]any{"type": "string", "format": "date-time"}, "updated_at": map[string]any{"type": "string", "format": "date-time"}}),
	"Prefill": obj(nil, map[string]any{"alias": str(""), "org": str(""), "model_version": str(""),
		"items": arrayOf(obj(nil, map[string]any{"item": str(""), "rank": integer(), "score": num(""), "orders": integer(),
			"usual_quantity": num("median quantity per purchase"), "last_purchased": map[string]any{"type": "string", "format": "date-time"},
			"interval_days": num("median days between orders"), "due_at": map[string]any{"type": "string", "format": "date-time"},
			"due": map[string]any{"type": "boolean"}, "confidence": num("orders/(orders+2), halved for the organisation's"),
			"source": str("history or organisation"), "reasons": arrayOf(str(""))})),
		"categories": arrayOf(obj(nil, map[string]any{"key": str(""), "confidence": num(""), "source": str("explicit or inferred")})),
		"brands":     arrayOf(obj(nil, map[string]any{"key": str(""), "confidence": num(""), "source": str("explicit or inferred")})),
		"price_tier": str("budget, mid or premium")}),
	"ModelVersion": obj(nil, map[string]any{"id": str(""), "status": str("promoted or candidate"), "reason": str("why a candidate was held back"),
		"metrics": map[string]any{"type": "object", "additionalProperties": num("")}, "hyperparameters": map[string]any{"type": "object"}}),
	"ModelList": obj(nil, map[string]any{"serving": str("the serving version id"), "versions": arrayOf(obj(nil, map[string]any{
		"id": str(""), "created_at": map[string]any{"type": "string", "format": "date-time"}, "status": str("promoted or candidate"),
		"hyperparameters": map[string]any{"type": "object"}, "data_watermark": map[string]any{"type": "string", "format": "date-time"},
		"events": integer(), "identities": integer(), "items": integer(), "train_seconds": num(""), "holdout": str("protocol of the metrics"),
		"metrics": map[string]any{"type": "object", "additionalProperties": num("")}, "artefact_bytes": integer()}))}),
	"Variant": obj([]string{"name", "share"}, map[string]any{"name": str("a-z, 0-9, _ . -; the first variant is the control"),
		"model": str("a model version id; omit for the serving model"), "share": num("part of the traffic; shares add up to 1"),
		"blend": obj(nil, map[string]any{"weight_als": num("0 to 100"), "weight_seasonal": num("0 to 100"), "weight_trending": num("0 to 100"), "min_items": integer()})}),
	"ExperimentRequest": obj([]string{"variants"}, map[string]any{"placement": str("only requests with this placement (default: all)"),
		"variants": arrayOf(ref("Variant")), "start": map[string]any{"type": "string", "format": "date-time", "description": "default now"},
		"stop": map[string]any{"type": "string", "format": "date-time", "description": "default: runs until stopped"}}),
	"Rate": obj(nil, map[string]any{"value": num(""), "low": num("95% interval"), "high": num("95% interval")}),
	"ExperimentReport": obj(nil, map[string]any{"name": str(""), "placement": str(""), "start": map[string]any{"type": "string", "format": "date-time"},
		"stop": map[string]any{"type": "string", "format": "date-time"}, "active": map[string]any{"type": "boolean"}, "control": str("the first variant"), "note": str(""),
		"variants": arrayOf(obj(nil, map[string]any{"name": str(""), "model": str(""), "share": num(""), "impressions": integer(), "clicks": integer(),
			"add_to_carts": integer(), "conversions": integer(), "click_through": ref("Rate"), "conversion": ref("Rate"),
			"click_through_difference": ref("Rate"), "conversion_difference": ref("Rate")}))}),
	"ExperimentList": obj(nil, map[string]any{"experiments": arrayOf(obj(nil, map[string]any{"name": str(""), "placement": str(""), "active": map[string]any{"type": "boolean"}}))}),
}

func eventTypeNames() []string {
	out := make([]string, len(engine.EventTypes))
	for i, t := range engine.EventTypes {
		out[i] = string(t)
	}
	return out
}
