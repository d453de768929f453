//! The OpenAPI document of the REST API, served at `/api/v1/openapi.json`. Kept by hand
//! beside the routes (`api.rs`); a test checks that every route is in it.

pub(crate) const DOCUMENT: &str = r##"{
  "openapi": "3.1.0",
  "info": {
    "title": "Scrim REST API",
    "version": "1",
    "description": "Read a tenant's telemetry and manage who may. A request carries either an API key (Authorization: Bearer scrim_…) or the session cookie of a signed-in person (POST /api/v1/session); the tenant is the key's or the session's, never a parameter. Each operation names the permission it needs in x-scrim-permission (docs/access-control.md has the matrix of roles and key scopes); 'public' needs no credential, 'authenticated' any. With a session, every state-changing request must carry the session's CSRF token in X-CSRF-Token. Everything returned was redacted by the tenant's capture policy before it was stored. Times are RFC 3339 or Unix seconds; durations and timestamps in answers are nanoseconds."
  },
  "servers": [
    {
      "url": "/"
    }
  ],
  "security": [
    {
      "apiKey": []
    },
    {
      "session": []
    }
  ],
  "components": {
    "securitySchemes": {
      "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A Scrim API key (scrim_<id>_<secret>); its scopes decide what it may do."
      },
      "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "scrim_session",
        "description": "Set by POST /api/v1/session or the SSO callback; HttpOnly, SameSite=Strict, Secure under TLS. State-changing requests also need X-CSRF-Token."
      }
    },
    "schemas": {
      "Error": {
        "type": "object",
        "required": [
          "error"
        ],
        "properties": {
          "error": {
            "type": "string"
          }
        }
      },
      "TraceSummary": {
        "type": "object",
        "properties": {
          "trace_id": {
            "type": "string"
          },
          "root_service": {
            "type": "string"
          },
          "root_operation": {
            "type": "string"
          },
          "start_ns": {
            "type": "integer"
          },
          "duration_ns": {
            "type": "integer"
          },
          "span_count": {
            "type": "integer"
          },
          "error": {
            "type": "boolean"
          }
        }
      },
      "ServiceStats": {
        "type": "object",
        "properties": {
          "service": {
            "type": "string"
          },
          "requests": {
            "type": "integer"
          },
          "errors": {
            "type": "integer"
          },
          "request_rate": {
            "type": "number",
            "description": "requests per second"
          },
          "error_rate": {
            "type": "number"
          },
          "p50_ns": {
            "type": "number"
          },
          "p95_ns": {
            "type": "number"
          },
          "p99_ns": {
            "type": "number"
          }
        }
      },
      "StatementStats": {
        "type": "object",
        "properties": {
          "statement": {
            "type": "string",
            "description": "obfuscated"
          },
          "db_system": {
            "type": [
              "string",
              "null"
            ]
          },
          "count": {
            "type": "integer"
          },
          "avg_ns": {
            "type": "number"
          },
          "p95_ns": {
            "type": "number"
          }
        }
      }
    },
    "responses": {
      "BadRequest": {
        "description": "Invalid parameters",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Unauthorized": {
        "description": "No valid credential, or the session ended",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Forbidden": {
        "description": "The caller's role or key scopes do not allow this, or the CSRF token is missing",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "TooMany": {
        "description": "Too many failed attempts from this address or on this account; Retry-After says when to try again",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      }
    }
  },
  "paths": {
    "/api/v1/traces/{trace_id}": {
      "get": {
        "summary": "One whole trace, in OTLP/JSON shape (resourceSpans).",
        "parameters": [
          {
            "name": "trace_id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string",
              "pattern": "^[0-9a-fA-F]{32}$"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The trace",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "resourceSpans": {
                      "type": "array"
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "description": "No such trace for this tenant",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          }
        },
        "x-scrim-permission": "read telemetry"
      }
    },
    "/api/v1/traces": {
      "get": {
        "summary": "Search traces: one span of the trace must match every filter.",
        "parameters": [
          {
            "name": "service",
            "in": "query",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "operation",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "span name"
          },
          {
            "name": "min_duration_ms",
            "in": "query",
            "schema": {
              "type": "integer",
              "minimum": 0
            }
          },
          {
            "name": "start",
            "in": "query",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "end",
            "in": "query",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "attr.KEY",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "span attribute KEY equals the value; repeatable"
          },
          {
            "name": "limit",
            "in": "query",
            "schema": {
              "type": "integer",
              "default": 20,
              "maximum": 1000
            }
          },
          {
            "name": "error",
            "in": "query",
            "schema": {
              "type": "boolean",
              "default": false
            },
            "description": "only traces with a failed span (status ERROR) matching the other parameters"
          }
        ],
        "responses": {
          "200": {
            "description": "Matching traces, newest first",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "traces": {
                      "type": "array",
                      "items": {
                        "$ref": "#/components/schemas/TraceSummary"
                      }
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "x-scrim-permission": "read telemetry"
      }
    },
    "/api/v1/services": {
      "get": {
        "summary": "Per service: request rate, error rate and latency percentiles over a window ending now.",
        "parameters": [
          {
            "name": "window",
            "in": "query",
            "schema": {
              "type": "string",
              "default": "1h"
            },
            "description": "30s, 15m, 1h, 7d"
          }
        ],
        "responses": {
          "200": {
            "description": "Service statistics",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "services": {
                      "type": "array",
                      "items": {
                        "$ref": "#/components/schemas/ServiceStats"
                      }
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "x-scrim-permission": "view services"
      }
    },
    "/api/v1/services/{name}/queries": {
      "get": {
        "summary": "The slowest and the most frequent (obfuscated) database statements of a service.",
        "parameters": [
          {
            "name": "name",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "window",
            "in": "query",
            "schema": {
              "type": "string",
              "default": "1h"
            }
          },
          {
            "name": "limit",
            "in": "query",
            "schema": {
              "type": "integer",
              "default": 10,
              "maximum": 100
            },
            "description": "statements per list"
          }
        ],
        "responses": {
          "200": {
            "description": "Statements",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "queries": {
                      "type": "object",
                      "properties": {
                        "slowest": {
                          "type": "array",
                          "items": {
                            "$ref": "#/components/schemas/StatementStats"
                          }
                        },
                        "most_frequent": {
                          "type": "array",
                          "items": {
                            "$ref": "#/components/schemas/StatementStats"
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "x-scrim-permission": "view services"
      }
    },
    "/api/v1/logs": {
      "get": {
        "summary": "Search log records, newest first.",
        "parameters": [
          {
            "name": "start",
            "in": "query",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "end",
            "in": "query",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "service",
            "in": "query",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "severity",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "lowest severity: trace, debug, info, warn, error, fatal or 1-24"
          },
          {
            "name": "q",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "case-insensitive text in the body"
          },
          {
            "name": "limit",
            "in": "query",
            "schema": {
              "type": "integer",
              "default": 100,
              "maximum": 10000
            }
          },
          {
            "name": "trace_id",
            "in": "query",
            "schema": {
              "type": "string",
              "pattern": "^[0-9a-fA-F]{32}$"
            },
            "description": "only the records of this trace"
          }
        ],
        "responses": {
          "200": {
            "description": "Log records",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "logs": {
                      "type": "array",
                      "items": {
                        "type": "object"
                      }
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "x-scrim-permission": "read telemetry"
      }
    },
    "/api/v1/sql": {
      "post": {
        "summary": "One read-only SQL query over the tables spans, logs and metrics of the key's tenant; anything but a query is refused; at most 10000 rows and 30 seconds.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "required": [
                  "query"
                ],
                "properties": {
                  "query": {
                    "type": "string"
                  },
                  "max_rows": {
                    "type": "integer",
                    "maximum": 10000
                  }
                }
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Columns and rows",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "columns": {
                      "type": "array",
                      "items": {
                        "type": "string"
                      }
                    },
                    "rows": {
                      "type": "array",
                      "items": {
                        "type": "array"
                      }
                    },
                    "truncated": {
                      "type": "boolean"
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "504": {
            "description": "The query ran out of time",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          }
        },
        "x-scrim-permission": "SQL console"
      }
    },
    "/api/v1/export": {
      "get": {
        "summary": "Export the tenant's spans, logs or metrics that match the filters, streamed: OTLP/JSON lines (one OTLP export request per line, which any OTLP/HTTP endpoint and the Collector's otlpjsonfile receiver take), JSON lines, CSV or Parquet (plain, or encrypted under a key the caller supplies). Filters apply to each row. Recorded in the audit log (telemetry.export) before the first byte is sent.",
        "x-scrim-permission": "export",
        "parameters": [
          {
            "name": "signal",
            "in": "query",
            "schema": {
              "type": "string",
              "enum": [
                "traces",
                "logs",
                "metrics"
              ]
            },
            "required": true,
            "description": "traces, logs or metrics (metrics: not as otlp-json)"
          },
          {
            "name": "format",
            "in": "query",
            "schema": {
              "type": "string",
              "enum": [
                "otlp-json",
                "jsonl",
                "csv",
                "parquet"
              ]
            },
            "required": true,
            "description": "otlp-json, jsonl, csv or parquet"
          },
          {
            "name": "start",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "from this time (inclusive): RFC 3339 or Unix seconds"
          },
          {
            "name": "end",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "before this time: RFC 3339 or Unix seconds"
          },
          {
            "name": "service",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "only this service"
          },
          {
            "name": "trace_id",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "traces and logs: only this trace (32 hex digits)"
          },
          {
            "name": "operation",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "traces: only spans of this name"
          },
          {
            "name": "min_duration_ms",
            "in": "query",
            "schema": {
              "type": "integer"
            },
            "description": "traces: only spans at least this long"
          },
          {
            "name": "severity",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "logs: lowest severity: trace, debug, info, warn, error, fatal or 1-24"
          },
          {
            "name": "q",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "logs: case-insensitive text in the body"
          },
          {
            "name": "attr.<key>",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "only rows whose attribute <key> has this value (repeatable with different keys)"
          },
          {
            "name": "X-Scrim-Export-Key",
            "in": "header",
            "schema": {
              "type": "string",
              "pattern": "^[0-9a-fA-F]{64}$"
            },
            "description": "format=parquet: encrypt the file (Parquet modular encryption, AES-GCM, footer and every column) under this 256-bit key, 64 hex digits. Never put it in the URL; it is neither logged nor recorded."
          }
        ],
        "responses": {
          "200": {
            "description": "The export, streamed. An export that fails midway ends without its final chunk, so the download is visibly incomplete.",
            "content": {
              "application/x-ndjson": {},
              "text/csv": {},
              "application/vnd.apache.parquet": {}
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "503": {
            "description": "The audit record of this export could not be written, so nothing was sent; try again"
          }
        }
      }
    },
    "/api/v1/openapi.json": {
      "get": {
        "summary": "This document.",
        "security": [],
        "responses": {
          "200": {
            "description": "OpenAPI 3.1"
          }
        },
        "x-scrim-permission": "public"
      }
    },
    "/api/v1/session": {
      "post": {
        "summary": "Sign in with e-mail and password (and a TOTP or recovery code once enrolled). Sets the session cookie; answers the CSRF token. 401 with mfa_required when a code is needed.",
        "x-scrim-permission": "public",
        "responses": {
          "200": {
            "description": "Signed in"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "429": {
            "$ref": "#/components/responses/TooMany"
          },
          "415": {
            "description": "Content-Type must be application/json"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "email": {
                    "type": "string"
                  },
                  "password": {
                    "type": "string"
                  },
                  "code": {
                    "type": "string"
                  },
                  "tenant": {
                    "type": "string",
                    "description": "tenant name; default the first of the account's tenants"
                  }
                },
                "required": [
                  "email",
                  "password"
                ]
              }
            }
          }
        },
        "security": []
      },
      "get": {
        "summary": "Who is calling: the user, tenant, role, sign-in method and CSRF token, or the API key and its scopes.",
        "x-scrim-permission": "authenticated",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      },
      "delete": {
        "summary": "Sign out this session.",
        "x-scrim-permission": "authenticated",
        "responses": {
          "200": {
            "description": "Signed out"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      }
    },
    "/api/v1/session/tenant": {
      "post": {
        "summary": "Move this session to another tenant the user belongs to.",
        "x-scrim-permission": "manage own account",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "tenant": {
                    "type": "string"
                  }
                },
                "required": [
                  "tenant"
                ]
              }
            }
          }
        }
      }
    },
    "/api/v1/me/sign-out-everywhere": {
      "post": {
        "summary": "End every session of the signed-in user.",
        "x-scrim-permission": "manage own account",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      }
    },
    "/api/v1/me/password": {
      "post": {
        "summary": "Change one's password; ends every session.",
        "x-scrim-permission": "manage own account",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "current_password": {
                    "type": "string"
                  },
                  "new_password": {
                    "type": "string"
                  }
                },
                "required": [
                  "current_password",
                  "new_password"
                ]
              }
            }
          }
        }
      }
    },
    "/api/v1/me/mfa/totp": {
      "post": {
        "summary": "Start TOTP enrolment: the secret, an otpauth URI and its QR code (SVG), shown once.",
        "x-scrim-permission": "manage own account",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      },
      "delete": {
        "summary": "Remove one's authenticator, with a current code (refused when a tenant of the user requires MFA).",
        "x-scrim-permission": "manage own account",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "code": {
                    "type": "string"
                  }
                },
                "required": [
                  "code"
                ]
              }
            }
          }
        }
      }
    },
    "/api/v1/me/mfa/totp/confirm": {
      "post": {
        "summary": "Finish enrolment with a code from the authenticator; answers ten one-time recovery codes, shown once.",
        "x-scrim-permission": "manage own account",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "code": {
                    "type": "string"
                  }
                },
                "required": [
                  "code"
                ]
              }
            }
          }
        }
      }
    },
    "/api/v1/users": {
      "get": {
        "summary": "The tenant's people: role, MFA, SSO, state.",
        "x-scrim-permission": "view members",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      },
      "post": {
        "summary": "Add a person to the tenant with a role, creating the account if the e-mail has none (a generated initial password is answered once). Making an owner needs 'manage owners'.",
        "x-scrim-permission": "manage members",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "201": {
            "description": "Added"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "email": {
                    "type": "string"
                  },
                  "role": {
                    "type": "string",
                    "enum": [
                      "owner",
                      "admin",
                      "member",
                      "viewer",
                      "auditor"
                    ]
                  },
                  "password": {
                    "type": "string"
                  }
                },
                "required": [
                  "email",
                  "role"
                ]
              }
            }
          }
        }
      }
    },
    "/api/v1/users/{id}": {
      "patch": {
        "summary": "Change a member's role. Changing an owner, or making one, needs 'manage owners'; the last owner stays.",
        "x-scrim-permission": "manage members",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "role": {
                    "type": "string"
                  }
                },
                "required": [
                  "role"
                ]
              }
            }
          }
        },
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ]
      },
      "delete": {
        "summary": "Remove a member from the tenant (the account stays).",
        "x-scrim-permission": "manage members",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ]
      }
    },
    "/api/v1/apikeys": {
      "get": {
        "summary": "The tenant's API keys: scopes, creator, expiry, last use and address, revocation. Never a secret.",
        "x-scrim-permission": "view API keys",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      },
      "post": {
        "summary": "Create a key with at most the creator's own scopes; the key is answered once, in 'key'.",
        "x-scrim-permission": "create API keys",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "201": {
            "description": "Created"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "scopes": {
                    "type": "string",
                    "description": "comma-separated: ingest, ingest:traces, ingest:logs, ingest:metrics, read, export, delete, admin, audit:read"
                  },
                  "name": {
                    "type": "string"
                  },
                  "description": {
                    "type": "string"
                  },
                  "expires_in_days": {
                    "type": "integer"
                  }
                },
                "required": [
                  "scopes"
                ]
              }
            }
          }
        }
      }
    },
    "/api/v1/apikeys/{id}": {
      "delete": {
        "summary": "Revoke a key at once. One's own keys need 'create API keys'; others' need 'revoke API keys'.",
        "x-scrim-permission": "create API keys",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ]
      }
    },
    "/api/v1/settings/security": {
      "get": {
        "summary": "The tenant's security settings: require MFA, require SSO, session timeouts.",
        "x-scrim-permission": "view security settings",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      },
      "put": {
        "summary": "Change them; fields left out stay; null timeouts go back to the server's defaults.",
        "x-scrim-permission": "manage security settings",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "require_mfa": {
                    "type": "boolean"
                  },
                  "require_sso": {
                    "type": "boolean"
                  },
                  "session_idle_minutes": {
                    "type": [
                      "integer",
                      "null"
                    ]
                  },
                  "session_absolute_minutes": {
                    "type": [
                      "integer",
                      "null"
                    ]
                  }
                }
              }
            }
          }
        }
      }
    },
    "/api/v1/settings/capture-policy": {
      "get": {
        "summary": "The tenant's capture policy (TOML), or that it uses the server's.",
        "x-scrim-permission": "view security settings",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      },
      "put": {
        "summary": "Set the tenant's capture policy (TOML, docs/capture-policy.md), or null for the server's. Servers apply it within a flush interval.",
        "x-scrim-permission": "manage capture policy",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "policy": {
                    "type": [
                      "string",
                      "null"
                    ]
                  }
                },
                "required": [
                  "policy"
                ]
              }
            }
          }
        }
      }
    },
    "/api/v1/settings/sso": {
      "get": {
        "summary": "The tenant's OpenID Connect settings and role mapping (never the client secret).",
        "x-scrim-permission": "view security settings",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      },
      "put": {
        "summary": "Set them ({\"settings\": {\"oidc\": {issuer, client_id, client_secret, redirect_uri, groups_claim}, \"roles\": {rules, default_role}, \"ca_pem\"}}), or {\"settings\": null} to remove. A mapping that can make owners needs 'manage owners'.",
        "x-scrim-permission": "manage security settings",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "settings": {
                    "type": [
                      "object",
                      "null"
                    ]
                  }
                },
                "required": [
                  "settings"
                ]
              }
            }
          }
        }
      }
    },
    "/api/v1/sso/login": {
      "get": {
        "summary": "Start single sign-on for a tenant: 303 to its OpenID provider.",
        "x-scrim-permission": "public",
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "303": {
            "description": "To the provider"
          }
        },
        "parameters": [
          {
            "name": "tenant",
            "in": "query",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "security": []
      }
    },
    "/api/v1/sso/callback": {
      "get": {
        "summary": "Where the provider sends the browser back: checks state, code, ID token and the role mapping, creates the account on first sign-in, starts a session, and answers a small page that moves on to / (a same-site step, so the browser sends the new SameSite=Strict cookie).",
        "x-scrim-permission": "public",
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "Signed in"
          }
        },
        "parameters": [
          {
            "name": "code",
            "in": "query",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "state",
            "in": "query",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "error",
            "in": "query",
            "schema": {
              "type": "string"
            }
          }
        ],
        "security": []
      }
    },
    "/api/v1/deletions": {
      "get": {
        "summary": "The tenant's deletion requests, newest first: scope, what each covers (an attribute value only in its stored, pseudonymised form), status, rows removed.",
        "x-scrim-permission": "delete telemetry",
        "responses": {
          "200": {
            "description": "OK"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      },
      "post": {
        "summary": "Request a deletion, recorded in the audit log first. scope \"selective\": the rows matching a time range (start, end), a service and/or an attribute equality (attribute: {key, value}, looked up in span, log or point attributes and resource attributes, as given and as its pseudonym), in the given signals; received before now. They are hidden from every query at once; an asynchronous job rewrites their segments without them, removes the old files and checks by query that nothing matches before its status is done (202, poll GET /api/v1/deletions/{id}). scope \"tenant\" with confirm = the tenant's name: the tenant's data key is destroyed first, then its data, keys, members and settings (200, synchronous; the credential used stops working).",
        "x-scrim-permission": "delete telemetry",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "required": [
                  "scope"
                ],
                "additionalProperties": false,
                "properties": {
                  "scope": {
                    "type": "string",
                    "enum": [
                      "selective",
                      "tenant"
                    ]
                  },
                  "confirm": {
                    "type": "string",
                    "description": "scope tenant: the tenant's name"
                  },
                  "start": {
                    "type": "string",
                    "description": "RFC 3339 or Unix seconds"
                  },
                  "end": {
                    "type": "string",
                    "description": "RFC 3339 or Unix seconds; at most now"
                  },
                  "service": {
                    "type": "string"
                  },
                  "attribute": {
                    "type": "object",
                    "required": [
                      "key",
                      "value"
                    ],
                    "properties": {
                      "key": {
                        "type": "string"
                      },
                      "value": {
                        "type": "string"
                      }
                    }
                  },
                  "signals": {
                    "type": "array",
                    "items": {
                      "type": "string",
                      "enum": [
                        "traces",
                        "logs",
                        "metrics"
                      ]
                    }
                  }
                }
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The tenant was deleted."
          },
          "202": {
            "description": "The selective request is recorded; its rows are hidden from now on."
          },
          "400": {
            "description": "Invalid request (nothing recorded)."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "503": {
            "description": "The audit record could not be written; nothing was done."
          }
        }
      }
    },
    "/api/v1/deletions/{id}": {
      "get": {
        "summary": "One deletion request and where it is: pending, running, done (nothing stored matches, checked by query) or failed (retried).",
        "x-scrim-permission": "delete telemetry",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "OK"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "description": "No such request in this tenant."
          }
        }
      }
    },
    "/api/v1/settings/retention": {
      "get": {
        "summary": "How long the tenant's telemetry is kept, the cutoff now, and the oldest data still stored.",
        "x-scrim-permission": "view security settings",
        "responses": {
          "200": {
            "description": "OK"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      },
      "put": {
        "summary": "Set how many days the tenant's telemetry is kept (1 to 3650); recorded in the audit log with before and after. Data then past the retention is removed at the next hourly run.",
        "x-scrim-permission": "manage security settings",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "required": [
                  "retention_days"
                ],
                "properties": {
                  "retention_days": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 3650
                  }
                }
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "503": {
            "description": "The audit record could not be written, so nothing changed; try again"
          }
        }
      }
    },
    "/api/v1/settings/data-key": {
      "get": {
        "summary": "The tenant's data key versions (ids and creation times, never key material), the current version, and how many segments each version still encrypts.",
        "x-scrim-permission": "view security settings",
        "responses": {
          "200": {
            "description": "OK"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      }
    },
    "/api/v1/settings/data-key/rotate": {
      "post": {
        "summary": "Rotate the tenant's data key: a new random key becomes current for every segment and WAL record written from now on; data written before stays readable under its own key until compaction rewrites it under the new one. Pseudonyms do not change. Recorded in the audit log (key.tenant_rotate, by key ids) before it is done. No request body.",
        "x-scrim-permission": "manage security settings",
        "responses": {
          "200": {
            "description": "The ids of the previous and the new current key, and the new version"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "503": {
            "description": "The audit record could not be written, so nothing changed; try again"
          }
        }
      }
    },
    "/api/v1/audit": {
      "get": {
        "summary": "The tenant's audit log: who did what, when, from where, with what outcome. Reading it is recorded too.",
        "x-scrim-permission": "read audit log",
        "parameters": [
          {
            "name": "actor",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "only this actor: a user id, a key id, operator or system:<name>"
          },
          {
            "name": "action",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "only this action, e.g. session.sign_in, telemetry.read (docs/audit-log.md)"
          },
          {
            "name": "start",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "from this time: RFC 3339 or Unix seconds"
          },
          {
            "name": "end",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "before this time: RFC 3339 or Unix seconds"
          },
          {
            "name": "limit",
            "in": "query",
            "schema": {
              "type": "integer"
            },
            "description": "format=json: at most this many, newest first (default 100, at most 10000)"
          },
          {
            "name": "format",
            "in": "query",
            "schema": {
              "type": "string"
            },
            "description": "json (default), jsonl or csv (every match, oldest first, as a download)"
          }
        ],
        "responses": {
          "200": {
            "description": "{\"records\": [...]} newest first; or JSON lines (application/x-ndjson) or CSV (text/csv) oldest first"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "503": {
            "description": "The audit record of this read could not be written, so nothing was sent; try again"
          }
        }
      }
    },
    "/api/v1/access-review": {
      "get": {
        "summary": "Access review: people, roles, MFA, sessions; API keys, scopes, last use; flags keys unused for 90 days.",
        "x-scrim-permission": "access review",
        "responses": {
          "200": {
            "description": "OK"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        }
      }
    },
    "/api/v1/services/timeseries": {
      "get": {
        "summary": "Requests, errors and p95 latency of entry spans per service and time bucket (buckets without requests are absent).",
        "parameters": [
          {
            "name": "window",
            "in": "query",
            "schema": {
              "type": "string",
              "default": "1h"
            },
            "description": "how far back from now: 30s, 15m, 1h, 7d (at most 366d)"
          },
          {
            "name": "step",
            "in": "query",
            "schema": {
              "type": "integer",
              "minimum": 1
            },
            "description": "bucket length in seconds (default: about 60 buckets over the window; never more than 1000 buckets)"
          },
          {
            "name": "service",
            "in": "query",
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "Points",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "window": {
                      "type": "object",
                      "properties": {
                        "start_ns": {
                          "type": "integer"
                        },
                        "end_ns": {
                          "type": "integer"
                        }
                      }
                    },
                    "step_ns": {
                      "type": "integer"
                    },
                    "points": {
                      "type": "array",
                      "items": {
                        "type": "object",
                        "properties": {
                          "service": {
                            "type": "string"
                          },
                          "start_ns": {
                            "type": "integer"
                          },
                          "requests": {
                            "type": "integer"
                          },
                          "errors": {
                            "type": "integer"
                          },
                          "p95_ns": {
                            "type": "number"
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "x-scrim-permission": "view services"
      }
    },
    "/api/v1/services/{name}/operations": {
      "get": {
        "summary": "The span names of a service, most frequent first: count, errors and latency per name and kind.",
        "parameters": [
          {
            "name": "name",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "window",
            "in": "query",
            "schema": {
              "type": "string",
              "default": "1h"
            },
            "description": "how far back from now: 30s, 15m, 1h, 7d (at most 366d)"
          },
          {
            "name": "limit",
            "in": "query",
            "schema": {
              "type": "integer",
              "default": 50,
              "maximum": 1000
            }
          }
        ],
        "responses": {
          "200": {
            "description": "Operations",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "service": {
                      "type": "string"
                    },
                    "operations": {
                      "type": "array",
                      "items": {
                        "type": "object",
                        "properties": {
                          "operation": {
                            "type": "string"
                          },
                          "kind": {
                            "type": "string"
                          },
                          "count": {
                            "type": "integer"
                          },
                          "errors": {
                            "type": "integer"
                          },
                          "p50_ns": {
                            "type": "number"
                          },
                          "p95_ns": {
                            "type": "number"
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "x-scrim-permission": "view services"
      }
    },
    "/api/v1/redactions": {
      "get": {
        "summary": "How many values of each kind the capture policy removed from each service's spans and logs (counts only, from their scrim.redacted.<kind> attributes).",
        "parameters": [
          {
            "name": "window",
            "in": "query",
            "schema": {
              "type": "string",
              "default": "1h"
            },
            "description": "how far back from now: 30s, 15m, 1h, 7d (at most 366d)"
          }
        ],
        "responses": {
          "200": {
            "description": "Counts",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "window": {
                      "type": "object"
                    },
                    "redactions": {
                      "type": "array",
                      "items": {
                        "type": "object",
                        "properties": {
                          "service": {
                            "type": "string"
                          },
                          "kind": {
                            "type": "string"
                          },
                          "count": {
                            "type": "integer"
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "x-scrim-permission": "view security settings"
      }
    },
    "/api/v1/settings/capture-policy/preview": {
      "post": {
        "summary": "What the tenant's capture policy, or a draft of it, would store for one value. Nothing is stored, logged or audited; pseudonyms use a key made for the request, so they never match stored ones.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "required": [
                  "kind",
                  "input"
                ],
                "properties": {
                  "kind": {
                    "type": "string",
                    "enum": [
                      "sql",
                      "url",
                      "json",
                      "text",
                      "ip"
                    ]
                  },
                  "input": {
                    "type": "string",
                    "maxLength": 65536
                  },
                  "policy": {
                    "type": "string",
                    "description": "a draft policy (TOML) to try instead of the tenant's"
                  },
                  "db_system": {
                    "type": "string",
                    "description": "for sql: db.system.name, which picks the dialect"
                  }
                }
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The value as it would be stored",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "kind": {
                      "type": "string"
                    },
                    "stored": {
                      "type": "boolean"
                    },
                    "output": {
                      "type": [
                        "string",
                        "null"
                      ]
                    },
                    "found": {
                      "type": "object",
                      "additionalProperties": {
                        "type": "integer"
                      }
                    },
                    "mode": {
                      "type": "string"
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "x-scrim-permission": "view security settings"
      }
    },
    "/api/v1/security/posture": {
      "get": {
        "summary": "The controls in force for the caller's tenant, read live: TLS, encryption at rest and the data key's age, MFA coverage, SSO enforcement, sessions, API keys, capture policy mode, retention, AI diagnostics, and the audit chain verified (at most five minutes ago).",
        "responses": {
          "200": {
            "description": "Posture",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "tenant": {
                      "type": "string"
                    },
                    "region": {
                      "type": "string"
                    },
                    "tls": {
                      "type": "object"
                    },
                    "encryption_at_rest": {
                      "type": "object"
                    },
                    "mfa": {
                      "type": "object"
                    },
                    "sso": {
                      "type": "object"
                    },
                    "sessions": {
                      "type": "object"
                    },
                    "api_keys": {
                      "type": "object"
                    },
                    "capture_policy": {
                      "type": "object"
                    },
                    "retention_days": {
                      "type": "integer"
                    },
                    "ai_diagnostics": {
                      "type": "object"
                    },
                    "audit_chain": {
                      "type": "object"
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "x-scrim-permission": "view security settings"
      }
    },
    "/api/v1/service-names": {
      "get": {
        "summary": "The names of the services that sent spans in the window, read from the catalog (no telemetry is read), for filter lists.",
        "parameters": [
          {
            "name": "window",
            "in": "query",
            "schema": {
              "type": "string",
              "default": "1h"
            },
            "description": "how far back from now: 30s, 15m, 1h, 7d (at most 366d)"
          }
        ],
        "responses": {
          "200": {
            "description": "Names",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "properties": {
                    "services": {
                      "type": "array",
                      "items": {
                        "type": "string"
                      }
                    }
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          }
        },
        "x-scrim-permission": "view services"
      }
    },
    "/api/v1/settings/ai": {
      "get": {
        "summary": "The tenant's AI diagnostics settings (never the provider's API key: api_key_set says whether one is stored), the provider's data-handling terms and the tenant's region.",
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "Settings",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        },
        "x-scrim-permission": "view security settings"
      },
      "put": {
        "summary": "Turn AI diagnostics on or off and choose the provider (owners, in person). settings: {enabled, provider: openai | azure-openai | openai-compatible, url (https only), model, region, allowed_hosts, cross_region_confirmed, max_context_bytes, timeout_seconds, ca_pem} or null to remove; api_key: a string to store (sealed), null to remove, absent to keep; accept_terms: required when data would start going to a new destination. Refused: a url host off allowed_hosts, plain http, a provider region other than the tenant's without cross_region_confirmed. Recorded as settings.ai_change with the terms agreed to.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "settings": {
                    "type": [
                      "object",
                      "null"
                    ]
                  },
                  "api_key": {
                    "type": [
                      "string",
                      "null"
                    ]
                  },
                  "accept_terms": {
                    "type": "boolean"
                  }
                }
              }
            }
          }
        },
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "configured, enabled, api_key_set",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        },
        "x-scrim-permission": "manage AI diagnostics"
      }
    },
    "/api/v1/ai/status": {
      "get": {
        "summary": "Whether the tenant's AI diagnostics are on, and the provider host and model a question would go to.",
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "Status",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        },
        "x-scrim-permission": "use AI diagnostics"
      }
    },
    "/api/v1/ai/explain/trace/{trace_id}": {
      "post": {
        "summary": "Ask the tenant's AI provider to explain a trace: critical path, failing and slow spans, likely cause. Built from the stored (redacted) trace, passed through every detector again, cut to the size budget. Recorded as ai.preview or ai.request (before sending) with the SHA-256 of the exact body, the provider, host, model and the person.",
        "parameters": [
          {
            "name": "trace_id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            },
            "description": "32 hexadecimal digits"
          }
        ],
        "requestBody": {
          "required": false,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "preview": {
                    "type": "boolean",
                    "description": "true: answer with the exact request body (payload) and its sha256, send nothing"
                  },
                  "expect_sha256": {
                    "type": "string",
                    "description": "send only if the body's SHA-256 is this one (from a preview); otherwise 409 and nothing is sent"
                  }
                }
              }
            }
          }
        },
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "The answer (answer, answered_by) or, with preview, the payload; always feature, provider, host, model, sha256, bytes",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "404": {
            "description": "No such trace, statement or service in the window"
          },
          "409": {
            "description": "AI diagnostics are off for the tenant (nothing built or sent, no connection made), or the body is not the one confirmed"
          },
          "502": {
            "description": "The provider failed or refused (recorded as failed)"
          },
          "504": {
            "description": "The provider did not answer in time"
          }
        },
        "x-scrim-permission": "use AI diagnostics"
      }
    },
    "/api/v1/ai/explain/sql": {
      "post": {
        "summary": "Ask the tenant's AI provider why a statement of a service is slow or failing: its figures, the messages of failed executions and the captured plan, if any. Only a statement the service ran in the window is sent.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "required": [
                  "service",
                  "statement"
                ],
                "properties": {
                  "preview": {
                    "type": "boolean",
                    "description": "true: answer with the exact request body (payload) and its sha256, send nothing"
                  },
                  "expect_sha256": {
                    "type": "string",
                    "description": "send only if the body's SHA-256 is this one (from a preview); otherwise 409 and nothing is sent"
                  },
                  "service": {
                    "type": "string"
                  },
                  "statement": {
                    "type": "string",
                    "description": "as stored (literals replaced by ?), as GET /api/v1/services/{name}/queries lists it"
                  },
                  "window": {
                    "type": "string",
                    "default": "1h"
                  }
                }
              }
            }
          }
        },
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "The answer (answer, answered_by) or, with preview, the payload; always feature, provider, host, model, sha256, bytes",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "404": {
            "description": "No such trace, statement or service in the window"
          },
          "409": {
            "description": "AI diagnostics are off for the tenant (nothing built or sent, no connection made), or the body is not the one confirmed"
          },
          "502": {
            "description": "The provider failed or refused (recorded as failed)"
          },
          "504": {
            "description": "The provider did not answer in time"
          }
        },
        "x-scrim-permission": "use AI diagnostics"
      }
    },
    "/api/v1/ai/summarize/service/{name}": {
      "post": {
        "summary": "Ask the tenant's AI provider to summarise a service's errors over a window: failed spans grouped by operation and status, their exceptions, and error logs.",
        "parameters": [
          {
            "name": "name",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "window",
            "in": "query",
            "schema": {
              "type": "string",
              "default": "1h"
            },
            "description": "how far back from now: 30s, 15m, 1h, 7d (at most 366d)"
          }
        ],
        "requestBody": {
          "required": false,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "properties": {
                  "preview": {
                    "type": "boolean",
                    "description": "true: answer with the exact request body (payload) and its sha256, send nothing"
                  },
                  "expect_sha256": {
                    "type": "string",
                    "description": "send only if the body's SHA-256 is this one (from a preview); otherwise 409 and nothing is sent"
                  }
                }
              }
            }
          }
        },
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "The answer (answer, answered_by) or, with preview, the payload; always feature, provider, host, model, sha256, bytes",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "404": {
            "description": "No such trace, statement or service in the window"
          },
          "409": {
            "description": "AI diagnostics are off for the tenant (nothing built or sent, no connection made), or the body is not the one confirmed"
          },
          "502": {
            "description": "The provider failed or refused (recorded as failed)"
          },
          "504": {
            "description": "The provider did not answer in time"
          }
        },
        "x-scrim-permission": "use AI diagnostics"
      }
    },
    "/api/v1/alerts/rules": {
      "get": {
        "summary": "The tenant's alert rules with their state (ok, pending, firing), last value and description.",
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "Rules",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        },
        "x-scrim-permission": "view alerts"
      },
      "post": {
        "summary": "Create an alert rule: metric (error_rate, p95_latency, p99_latency, request_rate, log_count), service, op (>, >=, <, <=), threshold (error_rate a fraction; latencies in ms; req/s; records), window_seconds (60 to 604800, default 300), for_seconds (0 to 86400), min_requests, log_query {min_severity, contains}, severity (info, warning, critical). Recorded as alert.rule_create.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object"
              },
              "example": {
                "name": "checkout p95",
                "metric": "p95_latency",
                "service": "checkout",
                "op": ">",
                "threshold": 500,
                "window_seconds": 300,
                "for_seconds": 60,
                "severity": "critical"
              }
            }
          }
        },
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "201": {
            "description": "The rule",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "409": {
            "description": "A rule with that name exists"
          }
        },
        "x-scrim-permission": "manage alerts"
      }
    },
    "/api/v1/alerts/rules/{id}": {
      "get": {
        "summary": "One alert rule.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            },
            "description": "al_ and 16 base32 characters"
          }
        ],
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "The rule",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "404": {
            "description": "No such rule or channel in the tenant"
          }
        },
        "x-scrim-permission": "view alerts"
      },
      "put": {
        "summary": "Replace an alert rule (same body as creating one); a changed rule starts over from ok. Recorded as alert.rule_update with before and after.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            },
            "description": "al_ and 16 base32 characters"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object"
              },
              "example": {
                "name": "checkout p95",
                "metric": "p95_latency",
                "service": "checkout",
                "op": ">",
                "threshold": 500,
                "window_seconds": 300,
                "for_seconds": 60,
                "severity": "critical"
              }
            }
          }
        },
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "The rule",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "404": {
            "description": "No such rule or channel in the tenant"
          }
        },
        "x-scrim-permission": "manage alerts"
      },
      "delete": {
        "summary": "Delete an alert rule; its history stays. Recorded as alert.rule_delete.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            },
            "description": "al_ and 16 base32 characters"
          }
        ],
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "204": {
            "description": "Deleted"
          },
          "404": {
            "description": "No such rule or channel in the tenant"
          }
        },
        "x-scrim-permission": "manage alerts"
      }
    },
    "/api/v1/alerts/history": {
      "get": {
        "summary": "Firing and resolved events, newest first.",
        "parameters": [
          {
            "name": "rule",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string"
            },
            "description": "Only this rule's events"
          },
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string"
            },
            "description": "At most this many (default 100, at most 1000)"
          }
        ],
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "events: rule_id, rule_name, state, value, threshold, at",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        },
        "x-scrim-permission": "view alerts"
      }
    },
    "/api/v1/insights/sensitive-data": {
      "get": {
        "summary": "What the capture policy removed in the window, by service, attribute and kind, each with its sentence (\"service `payments` sent 1,204 card numbers in `http.request.body` in the last 1h\"), and the (service, attribute, kind) first seen in the window. Counts only, never values.",
        "parameters": [
          {
            "name": "window",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string"
            },
            "description": "30s, 15m, 1h (default), 7d"
          }
        ],
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "findings and first_seen",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        },
        "x-scrim-permission": "view alerts"
      }
    },
    "/api/v1/detections": {
      "get": {
        "summary": "Security detections (detection.* audit records), newest first: failed_sign_ins, key_new_address, key_dormant_use, role_escalation, large_export, audit_chain_broken, revoked_key_use.",
        "parameters": [
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string"
            },
            "description": "At most this many (default 100, at most 1000)"
          }
        ],
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "detections: seq, at, kind, target, summary, severity, fields, source_seq",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        },
        "x-scrim-permission": "view security detections"
      }
    },
    "/api/v1/notifications/channels": {
      "get": {
        "summary": "Notification channels, without their secrets (a webhook's signing secret, a Slack URL's token, an SMTP password).",
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "Channels",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        },
        "x-scrim-permission": "view alerts"
      },
      "post": {
        "summary": "Add a notification channel: {\"name\", \"channel\": {\"type\": \"webhook\", \"url\", \"secret\"?} | {\"type\": \"slack\", \"url\"} | {\"type\": \"email\", \"host\", \"port\", \"tls\", \"username\"?, \"password\"?, \"from\", \"to\": [..]}}. https only, except http to a loopback host. A webhook without secret gets one, returned once as signing_secret. Secrets are sealed under a key derived from the tenant's data key. Recorded as notification.channel_create.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object"
              },
              "example": {
                "name": "on-call",
                "channel": {
                  "type": "webhook",
                  "url": "https://hooks.example.com/scrim"
                }
              }
            }
          }
        },
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "201": {
            "description": "The channel",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "409": {
            "description": "A channel with that name exists"
          }
        },
        "x-scrim-permission": "manage alerts"
      }
    },
    "/api/v1/notifications/channels/{id}": {
      "delete": {
        "summary": "Delete a notification channel; its pending deliveries are marked failed. Recorded as notification.channel_delete.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            },
            "description": "ch_ and 16 base32 characters"
          }
        ],
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "204": {
            "description": "Deleted"
          },
          "404": {
            "description": "No such rule or channel in the tenant"
          }
        },
        "x-scrim-permission": "manage alerts"
      }
    },
    "/api/v1/notifications/channels/{id}/test": {
      "post": {
        "summary": "Send a test notification to the channel now; answers whether it was delivered, with the receiver's status or the error. Recorded as notification.channel_test.",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            },
            "description": "ch_ and 16 base32 characters"
          }
        ],
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "delivered, status, detail or error",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "404": {
            "description": "No such rule or channel in the tenant"
          }
        },
        "x-scrim-permission": "manage alerts"
      }
    },
    "/api/v1/notifications": {
      "get": {
        "summary": "Notifications, newest first, each with its deliveries: channel, state (pending, delivered, failed), attempts, last status or error, next attempt.",
        "parameters": [
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string"
            },
            "description": "At most this many (default 100, at most 1000)"
          }
        ],
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "notifications",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        },
        "x-scrim-permission": "view alerts"
      }
    },
    "/api/v1/containment": {
      "get": {
        "summary": "What containment is in force: reads frozen (when, by whom), keys active and suspended.",
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "Containment state",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          }
        },
        "x-scrim-permission": "contain incidents"
      }
    },
    "/api/v1/containment/{action}": {
      "post": {
        "summary": "Containment, audited before it takes effect and reversible: suspend-keys (every key not revoked; refused like a revoked key), restore-keys (lifts exactly the suspension), end-sessions (every session in the tenant, the caller's included), freeze-reads (telemetry reads, exports and AI questions answer 423; ingest continues), unfreeze-reads.",
        "parameters": [
          {
            "name": "action",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            },
            "description": "suspend-keys, restore-keys, end-sessions, freeze-reads or unfreeze-reads"
          }
        ],
        "responses": {
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "200": {
            "description": "The containment state after the action, with action and changed",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "404": {
            "description": "Unknown action"
          },
          "503": {
            "description": "The audit record could not be written, so nothing was done"
          }
        },
        "x-scrim-permission": "contain incidents"
      }
    }
  }
}"##;

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_json_and_names_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).expect("valid JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let sources = [
            include_str!("api.rs"),
            include_str!("identity_api.rs"),
            include_str!("sso.rs"),
            include_str!("deletion.rs"),
            include_str!("ai.rs"),
            include_str!("alerts/api.rs"),
        ];
        let mut routed = 0;
        for source in sources {
            // `.route("/api/v1/…"` on one line, or the path alone on the next after rustfmt.
            for line in source.lines().map(str::trim).filter(|l| {
                l.starts_with(".route(\"/api/v1/")
                    || l.starts_with("\"/api/v1/") && l.ends_with("\",")
            }) {
                let path = line.split('"').nth(1).expect("quoted path");
                assert!(
                    paths.contains_key(path),
                    "{path} is not in the OpenAPI document"
                );
                routed += 1;
            }
        }
        assert_eq!(paths.len(), routed);
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    op["x-scrim-permission"].is_string(),
                    "{method} {path} names no x-scrim-permission"
                );
            }
        }
    }
}
