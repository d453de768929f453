//! The OpenAPI document of the REST API, served at `/api/v1/openapi.json`. Kept by hand
//! beside the routes (`api.rs`); a test checks that every route is in it.

pub(crate) const DOCUMENT: &str = r##"{
  "openapi": "3.1.0",
  "info": {
    "title": "Scrim REST API",
    "version": "1",
    "description": "Read a tenant's telemetry. Every request carries an API key with the read scope (Authorization: Bearer scrim_…); the tenant is the key's, never a parameter. Everything returned was redacted by the tenant's capture policy before it was stored. Times are RFC 3339 or Unix seconds; durations and timestamps in answers are nanoseconds."
  },
  "servers": [{ "url": "/" }],
  "security": [{ "apiKey": [] }],
  "components": {
    "securitySchemes": {
      "apiKey": { "type": "http", "scheme": "bearer", "description": "A Scrim API key (scrim_<id>_<secret>) with the read scope." }
    },
    "schemas": {
      "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
      "TraceSummary": {
        "type": "object",
        "properties": {
          "trace_id": { "type": "string" }, "root_service": { "type": "string" }, "root_operation": { "type": "string" },
          "start_ns": { "type": "integer" }, "duration_ns": { "type": "integer" }, "span_count": { "type": "integer" }, "error": { "type": "boolean" }
        }
      },
      "ServiceStats": {
        "type": "object",
        "properties": {
          "service": { "type": "string" }, "requests": { "type": "integer" }, "errors": { "type": "integer" },
          "request_rate": { "type": "number", "description": "requests per second" }, "error_rate": { "type": "number" },
          "p50_ns": { "type": "number" }, "p95_ns": { "type": "number" }, "p99_ns": { "type": "number" }
        }
      },
      "StatementStats": {
        "type": "object",
        "properties": {
          "statement": { "type": "string", "description": "obfuscated" }, "db_system": { "type": ["string", "null"] },
          "count": { "type": "integer" }, "avg_ns": { "type": "number" }, "p95_ns": { "type": "number" }
        }
      }
    },
    "responses": {
      "BadRequest": { "description": "Invalid parameters", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Unauthorized": { "description": "No valid API key", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Forbidden": { "description": "The key lacks the read scope", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
    }
  },
  "paths": {
    "/api/v1/traces/{trace_id}": {
      "get": {
        "summary": "One whole trace, in OTLP/JSON shape (resourceSpans).",
        "parameters": [{ "name": "trace_id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9a-fA-F]{32}$" } }],
        "responses": {
          "200": { "description": "The trace", "content": { "application/json": { "schema": { "type": "object", "properties": { "resourceSpans": { "type": "array" } } } } } },
          "400": { "$ref": "#/components/responses/BadRequest" }, "401": { "$ref": "#/components/responses/Unauthorized" }, "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "description": "No such trace for this tenant", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
        }
      }
    },
    "/api/v1/traces": {
      "get": {
        "summary": "Search traces: one span of the trace must match every filter.",
        "parameters": [
          { "name": "service", "in": "query", "schema": { "type": "string" } },
          { "name": "operation", "in": "query", "schema": { "type": "string" }, "description": "span name" },
          { "name": "min_duration_ms", "in": "query", "schema": { "type": "integer", "minimum": 0 } },
          { "name": "start", "in": "query", "schema": { "type": "string" } },
          { "name": "end", "in": "query", "schema": { "type": "string" } },
          { "name": "attr.KEY", "in": "query", "schema": { "type": "string" }, "description": "span attribute KEY equals the value; repeatable" },
          { "name": "limit", "in": "query", "schema": { "type": "integer", "default": 20, "maximum": 1000 } }
        ],
        "responses": {
          "200": { "description": "Matching traces, newest first", "content": { "application/json": { "schema": { "type": "object", "properties": { "traces": { "type": "array", "items": { "$ref": "#/components/schemas/TraceSummary" } } } } } } },
          "400": { "$ref": "#/components/responses/BadRequest" }, "401": { "$ref": "#/components/responses/Unauthorized" }, "403": { "$ref": "#/components/responses/Forbidden" }
        }
      }
    },
    "/api/v1/services": {
      "get": {
        "summary": "Per service: request rate, error rate and latency percentiles over a window ending now.",
        "parameters": [{ "name": "window", "in": "query", "schema": { "type": "string", "default": "1h" }, "description": "30s, 15m, 1h, 7d" }],
        "responses": {
          "200": { "description": "Service statistics", "content": { "application/json": { "schema": { "type": "object", "properties": { "services": { "type": "array", "items": { "$ref": "#/components/schemas/ServiceStats" } } } } } } },
          "400": { "$ref": "#/components/responses/BadRequest" }, "401": { "$ref": "#/components/responses/Unauthorized" }, "403": { "$ref": "#/components/responses/Forbidden" }
        }
      }
    },
    "/api/v1/services/{name}/queries": {
      "get": {
        "summary": "The slowest and the most frequent (obfuscated) database statements of a service.",
        "parameters": [
          { "name": "name", "in": "path", "required": true, "schema": { "type": "string" } },
          { "name": "window", "in": "query", "schema": { "type": "string", "default": "1h" } },
          { "name": "limit", "in": "query", "schema": { "type": "integer", "default": 10, "maximum": 100 }, "description": "statements per list" }
        ],
        "responses": {
          "200": { "description": "Statements", "content": { "application/json": { "schema": { "type": "object", "properties": { "queries": { "type": "object", "properties": { "slowest": { "type": "array", "items": { "$ref": "#/components/schemas/StatementStats" } }, "most_frequent": { "type": "array", "items": { "$ref": "#/components/schemas/StatementStats" } } } } } } } } },
          "400": { "$ref": "#/components/responses/BadRequest" }, "401": { "$ref": "#/components/responses/Unauthorized" }, "403": { "$ref": "#/components/responses/Forbidden" }
        }
      }
    },
    "/api/v1/logs": {
      "get": {
        "summary": "Search log records, newest first.",
        "parameters": [
          { "name": "start", "in": "query", "schema": { "type": "string" } },
          { "name": "end", "in": "query", "schema": { "type": "string" } },
          { "name": "service", "in": "query", "schema": { "type": "string" } },
          { "name": "severity", "in": "query", "schema": { "type": "string" }, "description": "lowest severity: trace, debug, info, warn, error, fatal or 1-24" },
          { "name": "q", "in": "query", "schema": { "type": "string" }, "description": "case-insensitive text in the body" },
          { "name": "limit", "in": "query", "schema": { "type": "integer", "default": 100, "maximum": 10000 } }
        ],
        "responses": {
          "200": { "description": "Log records", "content": { "application/json": { "schema": { "type": "object", "properties": { "logs": { "type": "array", "items": { "type": "object" } } } } } } },
          "400": { "$ref": "#/components/responses/BadRequest" }, "401": { "$ref": "#/components/responses/Unauthorized" }, "403": { "$ref": "#/components/responses/Forbidden" }
        }
      }
    },
    "/api/v1/sql": {
      "post": {
        "summary": "One read-only SQL query over the tables spans, logs and metrics of the key's tenant; anything but a query is refused; at most 10000 rows and 30 seconds.",
        "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["query"], "properties": { "query": { "type": "string" }, "max_rows": { "type": "integer", "maximum": 10000 } } } } } },
        "responses": {
          "200": { "description": "Columns and rows", "content": { "application/json": { "schema": { "type": "object", "properties": { "columns": { "type": "array", "items": { "type": "string" } }, "rows": { "type": "array", "items": { "type": "array" } }, "truncated": { "type": "boolean" } } } } } },
          "400": { "$ref": "#/components/responses/BadRequest" }, "401": { "$ref": "#/components/responses/Unauthorized" }, "403": { "$ref": "#/components/responses/Forbidden" },
          "504": { "description": "The query ran out of time", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
        }
      }
    },
    "/api/v1/openapi.json": { "get": { "summary": "This document.", "security": [], "responses": { "200": { "description": "OpenAPI 3.1" } } } }
  }
}"##;

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_json_and_names_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).expect("valid JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let routes = include_str!("api.rs");
        for line in routes.lines().filter(|l| l.contains(".route(\"/api/v1/")) {
            let path = line.split('"').nth(1).expect("quoted path");
            assert!(
                paths.contains_key(path),
                "{path} is not in the OpenAPI document"
            );
        }
        assert_eq!(paths.len(), 7);
    }
}
