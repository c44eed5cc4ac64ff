
    const schema = {
  "asyncapi": "3.0.0",
  "info": {
    "title": "Trading stream gateway",
    "version": "1.3.0",
    "description": "Real-time prices, trading signals, trade executions and portfolio updates over a plain JSON WebSocket, fed by NATS. Error codes and close codes: [errors.md](/docs/errors.md). REST side (status, health, metrics): the OpenAPI document, [openapi.json](/openapi.json), rendered at [/docs](/docs/). Links are relative to the gateway that serves this document."
  },
  "defaultContentType": "application/json",
  "servers": {
    "gateway": {
      "host": "localhost:8000",
      "protocol": "ws",
      "description": "The gateway's WebSocket endpoint (wss:// behind a TLS-terminating proxy in production)"
    },
    "upstream": {
      "host": "localhost:4222",
      "protocol": "nats",
      "description": "The NATS cluster upstream services publish to (NATS_URL)"
    }
  },
  "channels": {
    "websocket": {
      "address": "/ws",
      "title": "WebSocket stream",
      "description": "One WebSocket connection carries every channel. Client frames are JSON text frames; every server frame is one JSON text frame. With auto-subscribe on (the default) a new connection receives every channel until it subscribes explicitly.",
      "servers": [
        "$ref:$.servers.gateway"
      ],
      "messages": {
        "ping": {
          "name": "ping",
          "title": "Ping",
          "summary": "Keep-alive; answered by pong",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "ping",
                "x-parser-schema-id": "<anonymous-schema-1>"
              },
              "id": {
                "description": "Optional correlation id, echoed in the reply to this message",
                "anyOf": [
                  {
                    "type": "string",
                    "maxLength": 64,
                    "x-parser-schema-id": "<anonymous-schema-3>"
                  },
                  {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-4>"
                  }
                ],
                "title": "MessageId",
                "x-parser-schema-id": "<anonymous-schema-2>"
              }
            },
            "required": [
              "type"
            ],
            "title": "Ping",
            "description": "Keep-alive; answered by pong",
            "examples": [
              {
                "type": "ping"
              }
            ],
            "x-parser-schema-id": "PingPayload"
          },
          "examples": [
            {
              "name": "ping_example_1",
              "payload": {
                "type": "ping"
              }
            }
          ],
          "x-parser-unique-object-id": "ping"
        },
        "subscribe": {
          "name": "subscribe",
          "title": "Subscribe",
          "summary": "Subscribe to a channel, or add symbols to a subscription. The first explicit subscribe to a channel replaces the auto-subscribe default; \"*\" or no symbols means all. Answered by subscribed (and, on conflated channels, a snapshot of the latest values). With since on a lossless channel, the frames missed since that position follow the ack, then replayed, then live frames.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "subscribe",
                "x-parser-schema-id": "<anonymous-schema-5>"
              },
              "channel": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "title": "ChannelName",
                "description": "Channel name, e.g. price_updates",
                "enum": [
                  "order_books",
                  "portfolio",
                  "price_updates",
                  "signals",
                  "trades"
                ],
                "x-parser-schema-id": "<anonymous-schema-6>"
              },
              "symbols": {
                "description": "Symbols to (un)subscribe; \"*\" or absent means all",
                "anyOf": [
                  {
                    "type": "string",
                    "const": "*",
                    "x-parser-schema-id": "<anonymous-schema-8>"
                  },
                  {
                    "type": "array",
                    "items": {
                      "type": "string",
                      "x-parser-schema-id": "<anonymous-schema-10>"
                    },
                    "x-parser-schema-id": "<anonymous-schema-9>"
                  }
                ],
                "title": "SymbolSelection",
                "x-parser-schema-id": "<anonymous-schema-7>"
              },
              "interval_ms": {
                "description": "Conflated channels only: this connection's flush interval for the channel, from WEBSOCKET_MIN_INTERVAL_MS to 60000 (default: the channel's)",
                "type": "integer",
                "exclusiveMinimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-11>"
              },
              "since": {
                "description": "Resume: on a lossless channel, replay every frame after this position first (answered with recovered); on a conflated channel, accepted and answered with the snapshot",
                "type": "object",
                "properties": {
                  "seq": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 9007199254740991,
                    "description": "The seq of the last frame the client has (0: none yet)",
                    "x-parser-schema-id": "<anonymous-schema-13>"
                  },
                  "epoch": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 256,
                    "description": "The epoch that seq counts in",
                    "x-parser-schema-id": "<anonymous-schema-14>"
                  }
                },
                "required": [
                  "seq",
                  "epoch"
                ],
                "title": "ResumePosition",
                "x-parser-schema-id": "<anonymous-schema-12>"
              },
              "timing": {
                "description": "true: every live data frame of this subscription carries gw_rx and gw_tx, wall-clock microseconds since the epoch at NATS receive and at the socket write (docs/latency.md); false: no more; absent: unchanged",
                "type": "boolean",
                "x-parser-schema-id": "<anonymous-schema-15>"
              },
              "id": {
                "description": "Optional correlation id, echoed in the reply to this message",
                "anyOf": [
                  {
                    "type": "string",
                    "maxLength": 64,
                    "x-parser-schema-id": "<anonymous-schema-17>"
                  },
                  {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-18>"
                  }
                ],
                "title": "MessageId",
                "x-parser-schema-id": "<anonymous-schema-16>"
              }
            },
            "required": [
              "type",
              "channel"
            ],
            "title": "Subscribe",
            "description": "Subscribe to a channel, or add symbols to a subscription. The first explicit subscribe to a channel replaces the auto-subscribe default; \"*\" or no symbols means all. Answered by subscribed (and, on conflated channels, a snapshot of the latest values). With since on a lossless channel, the frames missed since that position follow the ack, then replayed, then live frames.",
            "examples": [
              {
                "type": "subscribe",
                "channel": "price_updates",
                "symbols": [
                  "AAPL",
                  "MSFT"
                ]
              },
              {
                "type": "subscribe",
                "channel": "trades",
                "since": {
                  "seq": 1041,
                  "epoch": "jaE0LMyxxrVh"
                }
              }
            ],
            "x-parser-schema-id": "SubscribePayload"
          },
          "examples": [
            {
              "name": "subscribe_example_1",
              "payload": {
                "type": "subscribe",
                "channel": "price_updates",
                "symbols": [
                  "AAPL",
                  "MSFT"
                ]
              }
            },
            {
              "name": "subscribe_example_2",
              "payload": {
                "type": "subscribe",
                "channel": "trades",
                "since": {
                  "seq": 1041,
                  "epoch": "jaE0LMyxxrVh"
                }
              }
            }
          ],
          "x-parser-unique-object-id": "subscribe"
        },
        "unsubscribe": {
          "name": "unsubscribe",
          "title": "Unsubscribe",
          "summary": "Remove symbols from a subscription, or leave the channel when symbols is absent. Answered by unsubscribed.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "unsubscribe",
                "x-parser-schema-id": "<anonymous-schema-19>"
              },
              "channel": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "title": "ChannelName",
                "description": "Channel name, e.g. price_updates",
                "enum": [
                  "order_books",
                  "portfolio",
                  "price_updates",
                  "signals",
                  "trades"
                ],
                "x-parser-schema-id": "<anonymous-schema-20>"
              },
              "symbols": {
                "description": "Symbols to (un)subscribe; \"*\" or absent means all",
                "anyOf": [
                  {
                    "type": "string",
                    "const": "*",
                    "x-parser-schema-id": "<anonymous-schema-22>"
                  },
                  {
                    "type": "array",
                    "items": {
                      "type": "string",
                      "x-parser-schema-id": "<anonymous-schema-24>"
                    },
                    "x-parser-schema-id": "<anonymous-schema-23>"
                  }
                ],
                "title": "SymbolSelection",
                "x-parser-schema-id": "<anonymous-schema-21>"
              },
              "id": {
                "description": "Optional correlation id, echoed in the reply to this message",
                "anyOf": [
                  {
                    "type": "string",
                    "maxLength": 64,
                    "x-parser-schema-id": "<anonymous-schema-26>"
                  },
                  {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-27>"
                  }
                ],
                "title": "MessageId",
                "x-parser-schema-id": "<anonymous-schema-25>"
              }
            },
            "required": [
              "type",
              "channel"
            ],
            "title": "Unsubscribe",
            "description": "Remove symbols from a subscription, or leave the channel when symbols is absent. Answered by unsubscribed.",
            "examples": [
              {
                "type": "unsubscribe",
                "channel": "price_updates",
                "symbols": [
                  "AAPL"
                ]
              }
            ],
            "x-parser-schema-id": "UnsubscribePayload"
          },
          "examples": [
            {
              "name": "unsubscribe_example_1",
              "payload": {
                "type": "unsubscribe",
                "channel": "price_updates",
                "symbols": [
                  "AAPL"
                ]
              }
            }
          ],
          "x-parser-unique-object-id": "unsubscribe"
        },
        "auth": {
          "name": "auth",
          "title": "Auth",
          "summary": "Only with WEBSOCKET_AUTH=jwt. Sent first (within WEBSOCKET_AUTH_TIMEOUT_MS) by a client that brought no token in the Authorization header or the token query parameter: answered by welcome, or close 4401. Sent later with a fresh token before the current one expires: answered by authenticated, or an INVALID_TOKEN error.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "auth",
                "x-parser-schema-id": "<anonymous-schema-28>"
              },
              "token": {
                "type": "string",
                "minLength": 1,
                "maxLength": 3072,
                "description": "A JWT (compact serialisation)",
                "x-parser-schema-id": "<anonymous-schema-29>"
              },
              "id": {
                "description": "Optional correlation id, echoed in the reply to this message",
                "anyOf": [
                  {
                    "type": "string",
                    "maxLength": 64,
                    "x-parser-schema-id": "<anonymous-schema-31>"
                  },
                  {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-32>"
                  }
                ],
                "title": "MessageId",
                "x-parser-schema-id": "<anonymous-schema-30>"
              }
            },
            "required": [
              "type",
              "token"
            ],
            "title": "Auth",
            "description": "Only with WEBSOCKET_AUTH=jwt. Sent first (within WEBSOCKET_AUTH_TIMEOUT_MS) by a client that brought no token in the Authorization header or the token query parameter: answered by welcome, or close 4401. Sent later with a fresh token before the current one expires: answered by authenticated, or an INVALID_TOKEN error.",
            "examples": [
              {
                "type": "auth",
                "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
              }
            ],
            "x-parser-schema-id": "AuthPayload"
          },
          "examples": [
            {
              "name": "auth_example_1",
              "payload": {
                "type": "auth",
                "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
              }
            }
          ],
          "x-parser-unique-object-id": "auth"
        },
        "welcome": {
          "name": "welcome",
          "title": "Welcome",
          "summary": "First frame on every connection: who the client is, what it is subscribed to, and the intervals",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "welcome",
                "x-parser-schema-id": "<anonymous-schema-33>"
              },
              "client_id": {
                "type": "string",
                "description": "The client_id query parameter, or a generated UUID",
                "x-parser-schema-id": "<anonymous-schema-34>"
              },
              "channels": {
                "type": "array",
                "items": {
                  "type": "string",
                  "x-parser-schema-id": "<anonymous-schema-36>"
                },
                "description": "Every channel this gateway serves",
                "x-parser-schema-id": "<anonymous-schema-35>"
              },
              "subscriptions": {
                "type": "object",
                "propertyNames": {
                  "type": "string",
                  "x-parser-schema-id": "<anonymous-schema-42>"
                },
                "additionalProperties": {
                  "anyOf": [
                    {
                      "type": "string",
                      "const": "*",
                      "x-parser-schema-id": "<anonymous-schema-39>"
                    },
                    {
                      "type": "array",
                      "items": {
                        "type": "string",
                        "x-parser-schema-id": "<anonymous-schema-41>"
                      },
                      "x-parser-schema-id": "<anonymous-schema-40>"
                    }
                  ],
                  "title": "SubscriptionState",
                  "x-parser-schema-id": "<anonymous-schema-38>"
                },
                "description": "Subscriptions the connection starts with",
                "x-parser-schema-id": "<anonymous-schema-37>"
              },
              "ping_interval": {
                "type": "number",
                "description": "Seconds between server pings (WEBSOCKET_PING_INTERVAL)",
                "x-parser-schema-id": "<anonymous-schema-43>"
              },
              "price_update_interval": {
                "type": "number",
                "description": "Seconds between price_update flushes",
                "x-parser-schema-id": "<anonymous-schema-44>"
              },
              "portfolio_update_interval": {
                "type": "number",
                "description": "Seconds between portfolio_update flushes",
                "x-parser-schema-id": "<anonymous-schema-45>"
              },
              "max_message_bytes": {
                "type": "number",
                "description": "Largest frame the client may send",
                "x-parser-schema-id": "<anonymous-schema-46>"
              },
              "stream_status": {
                "description": "Each channel's stream status now: live, or stale and why",
                "type": "object",
                "propertyNames": {
                  "type": "string",
                  "x-parser-schema-id": "<anonymous-schema-52>"
                },
                "additionalProperties": {
                  "type": "object",
                  "properties": {
                    "status": {
                      "type": "string",
                      "enum": [
                        "live",
                        "stale"
                      ],
                      "title": "StreamLiveness",
                      "description": "stale: what the client shows may be out of date",
                      "x-parser-schema-id": "<anonymous-schema-49>"
                    },
                    "reason": {
                      "description": "Why it is stale: upstream_disconnected (no NATS link) or no_data (quiet past its threshold)",
                      "type": "string",
                      "enum": [
                        "upstream_disconnected",
                        "no_data"
                      ],
                      "title": "StaleReason",
                      "x-parser-schema-id": "<anonymous-schema-50>"
                    },
                    "since": {
                      "type": "string",
                      "format": "date-time",
                      "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                      "description": "When the current status began",
                      "x-parser-schema-id": "<anonymous-schema-51>"
                    }
                  },
                  "required": [
                    "status",
                    "since"
                  ],
                  "additionalProperties": false,
                  "title": "StreamState",
                  "description": "Whether a channel's data is live, or stale and why",
                  "x-parser-schema-id": "<anonymous-schema-48>"
                },
                "x-parser-schema-id": "<anonymous-schema-47>"
              },
              "positions": {
                "description": "Head of each lossless channel the client may use, once its history is ready: frames after it are delivered live",
                "type": "object",
                "propertyNames": {
                  "type": "string",
                  "x-parser-schema-id": "<anonymous-schema-58>"
                },
                "additionalProperties": {
                  "type": "object",
                  "properties": {
                    "seq": {
                      "type": "integer",
                      "minimum": 0,
                      "maximum": 9007199254740991,
                      "description": "The channel's head: the last position so far (0: none)",
                      "x-parser-schema-id": "<anonymous-schema-55>"
                    },
                    "epoch": {
                      "type": "string",
                      "minLength": 1,
                      "x-parser-schema-id": "<anonymous-schema-56>"
                    },
                    "stream": {
                      "description": "JetStream channels, in the subscribed ack and replayed: the stream the epoch is a hash of, as its name and creation time. For people and logs; since takes the epoch",
                      "type": "string",
                      "x-parser-schema-id": "<anonymous-schema-57>"
                    }
                  },
                  "required": [
                    "seq",
                    "epoch"
                  ],
                  "additionalProperties": false,
                  "title": "ChannelPosition",
                  "description": "A lossless channel's head: resume with it as since to get everything after it",
                  "x-parser-schema-id": "<anonymous-schema-54>"
                },
                "x-parser-schema-id": "<anonymous-schema-53>"
              },
              "channel_info": {
                "description": "What each channel the client may use is: its frame type, delivery and intervals (GET /websocket/channels adds the JSON Schema of its frames)",
                "type": "object",
                "propertyNames": {
                  "type": "string",
                  "x-parser-schema-id": "<anonymous-schema-69>"
                },
                "additionalProperties": {
                  "type": "object",
                  "properties": {
                    "frame_type": {
                      "type": "string",
                      "description": "The `type` of the channel's data frames (a state channel's snapshot frames)",
                      "x-parser-schema-id": "<anonymous-schema-61>"
                    },
                    "update_frame_type": {
                      "description": "State channels: the `type` of their update frames",
                      "type": "string",
                      "x-parser-schema-id": "<anonymous-schema-62>"
                    },
                    "delivery": {
                      "type": "string",
                      "enum": [
                        "lossless",
                        "conflated",
                        "state"
                      ],
                      "title": "ChannelDelivery",
                      "description": "lossless: every frame, each with seq and epoch (resume with since); conflated: the latest value per key every interval; state: a snapshot per key, then checksummed updates (subscribe again to start over)",
                      "x-parser-schema-id": "<anonymous-schema-63>"
                    },
                    "interval_ms": {
                      "description": "Conflated channels: the default flush interval (interval_ms on subscribe picks another)",
                      "type": "number",
                      "exclusiveMinimum": 0,
                      "x-parser-schema-id": "<anonymous-schema-64>"
                    },
                    "stale_after_ms": {
                      "description": "How long without data before the channel is reported stale; absent: never for lack of data",
                      "type": "number",
                      "exclusiveMinimum": 0,
                      "x-parser-schema-id": "<anonymous-schema-65>"
                    },
                    "settings": {
                      "description": "The values of the plugin's own settings in force, by key (each read from `<CHANNEL>_<KEY>`); absent when it has none",
                      "type": "object",
                      "propertyNames": {
                        "type": "string",
                        "x-parser-schema-id": "<anonymous-schema-68>"
                      },
                      "additionalProperties": {
                        "x-parser-schema-id": "<anonymous-schema-67>"
                      },
                      "x-parser-schema-id": "<anonymous-schema-66>"
                    }
                  },
                  "required": [
                    "frame_type",
                    "delivery"
                  ],
                  "additionalProperties": false,
                  "title": "ChannelInfo",
                  "description": "What the gateway's plugin for a channel declares",
                  "x-parser-schema-id": "<anonymous-schema-60>"
                },
                "x-parser-schema-id": "<anonymous-schema-59>"
              },
              "expires_at": {
                "description": "With WEBSOCKET_AUTH=jwt: when the connection's token expires (send a fresh one with auth before)",
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "x-parser-schema-id": "<anonymous-schema-70>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-71>"
              }
            },
            "required": [
              "type",
              "client_id",
              "channels",
              "subscriptions",
              "ping_interval",
              "price_update_interval",
              "portfolio_update_interval",
              "max_message_bytes",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "Welcome",
            "description": "First frame on every connection: who the client is, what it is subscribed to, and the intervals",
            "examples": [
              {
                "type": "welcome",
                "client_id": "my-client-id",
                "channels": [
                  "portfolio",
                  "price_updates",
                  "signals",
                  "trades"
                ],
                "subscriptions": {
                  "portfolio": "*",
                  "price_updates": "*",
                  "signals": "*",
                  "trades": "*"
                },
                "ping_interval": 30,
                "price_update_interval": 3,
                "portfolio_update_interval": 5,
                "max_message_bytes": 4096,
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            ],
            "x-parser-schema-id": "WelcomePayload"
          },
          "examples": [
            {
              "name": "welcome_example_1",
              "payload": {
                "type": "welcome",
                "client_id": "my-client-id",
                "channels": [
                  "portfolio",
                  "price_updates",
                  "signals",
                  "trades"
                ],
                "subscriptions": {
                  "portfolio": "*",
                  "price_updates": "*",
                  "signals": "*",
                  "trades": "*"
                },
                "ping_interval": 30,
                "price_update_interval": 3,
                "portfolio_update_interval": 5,
                "max_message_bytes": 4096,
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            }
          ],
          "x-parser-unique-object-id": "welcome"
        },
        "subscribed": {
          "name": "subscribed",
          "title": "Subscribed",
          "summary": "Acknowledges subscribe with the channel's resulting subscription",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "subscribed",
                "x-parser-schema-id": "<anonymous-schema-72>"
              },
              "channel": {
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-73>"
              },
              "symbols": {
                "anyOf": [
                  {
                    "type": "string",
                    "const": "*",
                    "x-parser-schema-id": "<anonymous-schema-75>"
                  },
                  {
                    "type": "array",
                    "items": {
                      "type": "string",
                      "x-parser-schema-id": "<anonymous-schema-77>"
                    },
                    "x-parser-schema-id": "<anonymous-schema-76>"
                  }
                ],
                "title": "SubscriptionState",
                "description": "The channel's subscription after this message",
                "x-parser-schema-id": "<anonymous-schema-74>"
              },
              "position": {
                "description": "Lossless channels: the position the subscription starts after (resume from it later)",
                "type": "object",
                "properties": {
                  "seq": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 9007199254740991,
                    "description": "The channel's head: the last position so far (0: none)",
                    "x-parser-schema-id": "<anonymous-schema-79>"
                  },
                  "epoch": {
                    "type": "string",
                    "minLength": 1,
                    "x-parser-schema-id": "<anonymous-schema-80>"
                  },
                  "stream": {
                    "description": "JetStream channels, in the subscribed ack and replayed: the stream the epoch is a hash of, as its name and creation time. For people and logs; since takes the epoch",
                    "type": "string",
                    "x-parser-schema-id": "<anonymous-schema-81>"
                  }
                },
                "required": [
                  "seq",
                  "epoch"
                ],
                "additionalProperties": false,
                "title": "ChannelPosition",
                "x-parser-schema-id": "<anonymous-schema-78>"
              },
              "interval_ms": {
                "description": "Conflated channels: the flush interval in force for this connection on the channel",
                "type": "integer",
                "exclusiveMinimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-82>"
              },
              "stream_status": {
                "description": "The channel's stream status now",
                "type": "object",
                "properties": {
                  "status": {
                    "type": "string",
                    "enum": [
                      "live",
                      "stale"
                    ],
                    "title": "StreamLiveness",
                    "description": "stale: what the client shows may be out of date",
                    "x-parser-schema-id": "<anonymous-schema-84>"
                  },
                  "reason": {
                    "description": "Why it is stale: upstream_disconnected (no NATS link) or no_data (quiet past its threshold)",
                    "type": "string",
                    "enum": [
                      "upstream_disconnected",
                      "no_data"
                    ],
                    "title": "StaleReason",
                    "x-parser-schema-id": "<anonymous-schema-85>"
                  },
                  "since": {
                    "type": "string",
                    "format": "date-time",
                    "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                    "description": "When the current status began",
                    "x-parser-schema-id": "<anonymous-schema-86>"
                  }
                },
                "required": [
                  "status",
                  "since"
                ],
                "additionalProperties": false,
                "title": "StreamState",
                "x-parser-schema-id": "<anonymous-schema-83>"
              },
              "recovered": {
                "description": "Only in answer to since on a lossless channel. true: every frame after since that the subscription entitles the client to follows, in seq order, exactly once, then replayed, then live frames. false: see reason; the subscription is live from now",
                "type": "boolean",
                "x-parser-schema-id": "<anonymous-schema-87>"
              },
              "reason": {
                "type": "string",
                "enum": [
                  "epoch_mismatch",
                  "too_old",
                  "ahead_of_head",
                  "replay_limit",
                  "upstream_unavailable"
                ],
                "description": "Why recovered is false: reload what was missed from the system of record",
                "title": "ResumeFailure",
                "x-parser-schema-id": "<anonymous-schema-88>"
              },
              "id": {
                "description": "Optional correlation id, echoed in the reply to this message",
                "anyOf": [
                  {
                    "type": "string",
                    "maxLength": 64,
                    "x-parser-schema-id": "<anonymous-schema-90>"
                  },
                  {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-91>"
                  }
                ],
                "title": "MessageId",
                "x-parser-schema-id": "<anonymous-schema-89>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-92>"
              }
            },
            "required": [
              "type",
              "channel",
              "symbols",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "Subscribed",
            "description": "Acknowledges subscribe with the channel's resulting subscription",
            "examples": [
              {
                "type": "subscribed",
                "channel": "price_updates",
                "symbols": [
                  "AAPL",
                  "MSFT"
                ],
                "timestamp": "2024-12-19T12:00:00.000Z"
              },
              {
                "type": "subscribed",
                "channel": "trades",
                "symbols": "*",
                "position": {
                  "seq": 1045,
                  "epoch": "jaE0LMyxxrVh",
                  "stream": "GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z"
                },
                "recovered": true,
                "timestamp": "2024-12-19T12:00:00.000Z"
              },
              {
                "type": "subscribed",
                "channel": "trades",
                "symbols": "*",
                "position": {
                  "seq": 1045,
                  "epoch": "jaE0LMyxxrVh",
                  "stream": "GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z"
                },
                "recovered": false,
                "reason": "epoch_mismatch",
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            ],
            "x-parser-schema-id": "SubscribedPayload"
          },
          "examples": [
            {
              "name": "subscribed_example_1",
              "payload": {
                "type": "subscribed",
                "channel": "price_updates",
                "symbols": [
                  "AAPL",
                  "MSFT"
                ],
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            },
            {
              "name": "subscribed_example_2",
              "payload": {
                "type": "subscribed",
                "channel": "trades",
                "symbols": "*",
                "position": {
                  "seq": 1045,
                  "epoch": "jaE0LMyxxrVh",
                  "stream": "GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z"
                },
                "recovered": true,
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            },
            {
              "name": "subscribed_example_3",
              "payload": {
                "type": "subscribed",
                "channel": "trades",
                "symbols": "*",
                "position": {
                  "seq": 1045,
                  "epoch": "jaE0LMyxxrVh",
                  "stream": "GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z"
                },
                "recovered": false,
                "reason": "epoch_mismatch",
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            }
          ],
          "x-parser-unique-object-id": "subscribed"
        },
        "unsubscribed": {
          "name": "unsubscribed",
          "title": "Unsubscribed",
          "summary": "Acknowledges unsubscribe with the channel's resulting subscription",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "unsubscribed",
                "x-parser-schema-id": "<anonymous-schema-93>"
              },
              "channel": {
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-94>"
              },
              "symbols": {
                "anyOf": [
                  {
                    "type": "string",
                    "const": "*",
                    "x-parser-schema-id": "<anonymous-schema-96>"
                  },
                  {
                    "type": "array",
                    "items": {
                      "type": "string",
                      "x-parser-schema-id": "<anonymous-schema-98>"
                    },
                    "x-parser-schema-id": "<anonymous-schema-97>"
                  }
                ],
                "title": "SubscriptionState",
                "description": "The channel's subscription after this message ([] = not subscribed)",
                "x-parser-schema-id": "<anonymous-schema-95>"
              },
              "id": {
                "description": "Optional correlation id, echoed in the reply to this message",
                "anyOf": [
                  {
                    "type": "string",
                    "maxLength": 64,
                    "x-parser-schema-id": "<anonymous-schema-100>"
                  },
                  {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-101>"
                  }
                ],
                "title": "MessageId",
                "x-parser-schema-id": "<anonymous-schema-99>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-102>"
              }
            },
            "required": [
              "type",
              "channel",
              "symbols",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "Unsubscribed",
            "description": "Acknowledges unsubscribe with the channel's resulting subscription",
            "examples": [
              {
                "type": "unsubscribed",
                "channel": "price_updates",
                "symbols": [
                  "MSFT"
                ],
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            ],
            "x-parser-schema-id": "UnsubscribedPayload"
          },
          "examples": [
            {
              "name": "unsubscribed_example_1",
              "payload": {
                "type": "unsubscribed",
                "channel": "price_updates",
                "symbols": [
                  "MSFT"
                ],
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            }
          ],
          "x-parser-unique-object-id": "unsubscribed"
        },
        "pong": {
          "name": "pong",
          "title": "Pong",
          "summary": "Reply to ping, echoing its id when it had one",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "pong",
                "x-parser-schema-id": "<anonymous-schema-103>"
              },
              "id": {
                "description": "Optional correlation id, echoed in the reply to this message",
                "anyOf": [
                  {
                    "type": "string",
                    "maxLength": 64,
                    "x-parser-schema-id": "<anonymous-schema-105>"
                  },
                  {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-106>"
                  }
                ],
                "title": "MessageId",
                "x-parser-schema-id": "<anonymous-schema-104>"
              }
            },
            "required": [
              "type"
            ],
            "additionalProperties": false,
            "title": "Pong",
            "description": "Reply to ping, echoing its id when it had one",
            "examples": [
              {
                "type": "pong"
              }
            ],
            "x-parser-schema-id": "PongPayload"
          },
          "examples": [
            {
              "name": "pong_example_1",
              "payload": {
                "type": "pong"
              }
            }
          ],
          "x-parser-unique-object-id": "pong"
        },
        "error": {
          "name": "error",
          "title": "Error",
          "summary": "A client message could not be honoured; the connection stays open",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "error",
                "x-parser-schema-id": "<anonymous-schema-107>"
              },
              "error": {
                "type": "string",
                "description": "Human-readable message (match on code, not on this). INVALID_MESSAGE and UNKNOWN_MESSAGE_TYPE: the seed's \"Invalid message format\", then the field and the rule it broke",
                "x-parser-schema-id": "<anonymous-schema-108>"
              },
              "code": {
                "type": "string",
                "enum": [
                  "INVALID_MESSAGE",
                  "UNKNOWN_MESSAGE_TYPE",
                  "UNKNOWN_CHANNEL",
                  "INVALID_SYMBOLS",
                  "TOO_MANY_SYMBOLS",
                  "RATE_LIMITED",
                  "SUBSCRIPTION_CONFLICT",
                  "FORBIDDEN",
                  "INVALID_TOKEN",
                  "AUTH_DISABLED"
                ],
                "title": "ErrorCode",
                "description": "Machine-readable code (docs/errors.md)",
                "x-parser-schema-id": "<anonymous-schema-109>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-110>"
              },
              "id": {
                "description": "Optional correlation id, echoed in the reply to this message",
                "anyOf": [
                  {
                    "type": "string",
                    "maxLength": 64,
                    "x-parser-schema-id": "<anonymous-schema-112>"
                  },
                  {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-113>"
                  }
                ],
                "title": "MessageId",
                "x-parser-schema-id": "<anonymous-schema-111>"
              }
            },
            "required": [
              "type",
              "error",
              "code",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "Error",
            "description": "A client message could not be honoured; the connection stays open",
            "examples": [
              {
                "type": "error",
                "error": "Invalid message format: interval_ms must be an integer from 100 to 60000",
                "code": "INVALID_MESSAGE",
                "timestamp": "2024-12-19T12:00:00.000Z",
                "id": "sub-1"
              }
            ],
            "x-parser-schema-id": "ErrorPayload"
          },
          "examples": [
            {
              "name": "error_example_1",
              "payload": {
                "type": "error",
                "error": "Invalid message format: interval_ms must be an integer from 100 to 60000",
                "code": "INVALID_MESSAGE",
                "timestamp": "2024-12-19T12:00:00.000Z",
                "id": "sub-1"
              }
            }
          ],
          "x-parser-unique-object-id": "error"
        },
        "authenticated": {
          "name": "authenticated",
          "title": "Authenticated",
          "summary": "Acknowledges an auth frame that refreshed the token of an open connection; its claims apply from now on",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "authenticated",
                "x-parser-schema-id": "<anonymous-schema-114>"
              },
              "client_id": {
                "type": "string",
                "description": "The token's subject, the connection's client_id",
                "x-parser-schema-id": "<anonymous-schema-115>"
              },
              "expires_at": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "When the fresh token expires",
                "x-parser-schema-id": "<anonymous-schema-116>"
              },
              "id": {
                "description": "Optional correlation id, echoed in the reply to this message",
                "anyOf": [
                  {
                    "type": "string",
                    "maxLength": 64,
                    "x-parser-schema-id": "<anonymous-schema-118>"
                  },
                  {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-119>"
                  }
                ],
                "title": "MessageId",
                "x-parser-schema-id": "<anonymous-schema-117>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-120>"
              }
            },
            "required": [
              "type",
              "client_id",
              "expires_at",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "Authenticated",
            "description": "Acknowledges an auth frame that refreshed the token of an open connection; its claims apply from now on",
            "examples": [
              {
                "type": "authenticated",
                "client_id": "alice",
                "expires_at": "2024-12-19T13:00:00.000Z",
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            ],
            "x-parser-schema-id": "AuthenticatedPayload"
          },
          "examples": [
            {
              "name": "authenticated_example_1",
              "payload": {
                "type": "authenticated",
                "client_id": "alice",
                "expires_at": "2024-12-19T13:00:00.000Z",
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            }
          ],
          "x-parser-unique-object-id": "authenticated"
        },
        "replayed": {
          "name": "replayed",
          "title": "Replayed",
          "summary": "Ends the replay that followed a subscribed ack with recovered: true. Frames after it are live.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "replayed",
                "x-parser-schema-id": "<anonymous-schema-121>"
              },
              "channel": {
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-122>"
              },
              "count": {
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "description": "Frames replayed after the subscribed ack",
                "x-parser-schema-id": "<anonymous-schema-123>"
              },
              "position": {
                "type": "object",
                "properties": {
                  "seq": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 9007199254740991,
                    "description": "The channel's head: the last position so far (0: none)",
                    "x-parser-schema-id": "<anonymous-schema-125>"
                  },
                  "epoch": {
                    "type": "string",
                    "minLength": 1,
                    "x-parser-schema-id": "<anonymous-schema-126>"
                  },
                  "stream": {
                    "description": "JetStream channels, in the subscribed ack and replayed: the stream the epoch is a hash of, as its name and creation time. For people and logs; since takes the epoch",
                    "type": "string",
                    "x-parser-schema-id": "<anonymous-schema-127>"
                  }
                },
                "required": [
                  "seq",
                  "epoch"
                ],
                "additionalProperties": false,
                "title": "ChannelPosition",
                "description": "The last position the replay covered; live frames follow it",
                "x-parser-schema-id": "<anonymous-schema-124>"
              },
              "id": {
                "description": "Optional correlation id, echoed in the reply to this message",
                "anyOf": [
                  {
                    "type": "string",
                    "maxLength": 64,
                    "x-parser-schema-id": "<anonymous-schema-129>"
                  },
                  {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-130>"
                  }
                ],
                "title": "MessageId",
                "x-parser-schema-id": "<anonymous-schema-128>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-131>"
              }
            },
            "required": [
              "type",
              "channel",
              "count",
              "position",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "Replayed",
            "description": "Ends the replay that followed a subscribed ack with recovered: true. Frames after it are live.",
            "examples": [
              {
                "type": "replayed",
                "channel": "trades",
                "count": 4,
                "position": {
                  "seq": 1045,
                  "epoch": "jaE0LMyxxrVh",
                  "stream": "GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z"
                },
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            ],
            "x-parser-schema-id": "ReplayedPayload"
          },
          "examples": [
            {
              "name": "replayed_example_1",
              "payload": {
                "type": "replayed",
                "channel": "trades",
                "count": 4,
                "position": {
                  "seq": 1045,
                  "epoch": "jaE0LMyxxrVh",
                  "stream": "GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z"
                },
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            }
          ],
          "x-parser-unique-object-id": "replayed"
        },
        "stream_status": {
          "name": "stream_status",
          "title": "Stream status",
          "summary": "Sent to a channel's subscribers whenever the channel's status changes: stale when the gateway loses NATS or the channel is quiet past its threshold, live again when data flows (or, for a channel without a threshold, when the link is back).",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "stream_status",
                "x-parser-schema-id": "<anonymous-schema-132>"
              },
              "channel": {
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-133>"
              },
              "status": {
                "type": "string",
                "enum": [
                  "live",
                  "stale"
                ],
                "title": "StreamLiveness",
                "description": "stale: what the client shows may be out of date",
                "x-parser-schema-id": "<anonymous-schema-134>"
              },
              "reason": {
                "description": "Why it is stale: upstream_disconnected (no NATS link) or no_data (quiet past its threshold)",
                "type": "string",
                "enum": [
                  "upstream_disconnected",
                  "no_data"
                ],
                "title": "StaleReason",
                "x-parser-schema-id": "<anonymous-schema-135>"
              },
              "since": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "When the current status began",
                "x-parser-schema-id": "<anonymous-schema-136>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-137>"
              }
            },
            "required": [
              "type",
              "channel",
              "status",
              "since",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "StreamStatus",
            "description": "Sent to a channel's subscribers whenever the channel's status changes: stale when the gateway loses NATS or the channel is quiet past its threshold, live again when data flows (or, for a channel without a threshold, when the link is back).",
            "examples": [
              {
                "type": "stream_status",
                "channel": "price_updates",
                "status": "stale",
                "reason": "upstream_disconnected",
                "since": "2024-12-19T12:00:00.000Z",
                "timestamp": "2024-12-19T12:00:00.000Z"
              },
              {
                "type": "stream_status",
                "channel": "price_updates",
                "status": "live",
                "since": "2024-12-19T12:00:07.000Z",
                "timestamp": "2024-12-19T12:00:07.000Z"
              }
            ],
            "x-parser-schema-id": "StreamStatusPayload"
          },
          "examples": [
            {
              "name": "stream_status_example_1",
              "payload": {
                "type": "stream_status",
                "channel": "price_updates",
                "status": "stale",
                "reason": "upstream_disconnected",
                "since": "2024-12-19T12:00:00.000Z",
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            },
            {
              "name": "stream_status_example_2",
              "payload": {
                "type": "stream_status",
                "channel": "price_updates",
                "status": "live",
                "since": "2024-12-19T12:00:07.000Z",
                "timestamp": "2024-12-19T12:00:07.000Z"
              }
            }
          ],
          "x-parser-unique-object-id": "stream_status"
        },
        "delivery_status": {
          "name": "delivery_status",
          "title": "Delivery status",
          "summary": "The connection's queued bytes passed WEBSOCKET_DEGRADE_BYTES, so its conflated intervals were widened (doubling at most every second, up to WEBSOCKET_DEGRADE_MAX_FACTOR); or its backlog drained and they are being restored (degraded: false once they are back). Lossless channels are never thinned.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "delivery_status",
                "x-parser-schema-id": "<anonymous-schema-138>"
              },
              "degraded": {
                "type": "boolean",
                "description": "true while the gateway sends conflated channels less often than asked",
                "x-parser-schema-id": "<anonymous-schema-139>"
              },
              "intervals_ms": {
                "type": "object",
                "propertyNames": {
                  "type": "string",
                  "x-parser-schema-id": "<anonymous-schema-142>"
                },
                "additionalProperties": {
                  "type": "integer",
                  "exclusiveMinimum": 0,
                  "maximum": 9007199254740991,
                  "x-parser-schema-id": "<anonymous-schema-141>"
                },
                "description": "The interval now in force for each conflated channel the connection is subscribed to",
                "x-parser-schema-id": "<anonymous-schema-140>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-143>"
              }
            },
            "required": [
              "type",
              "degraded",
              "intervals_ms",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "DeliveryStatus",
            "description": "The connection's queued bytes passed WEBSOCKET_DEGRADE_BYTES, so its conflated intervals were widened (doubling at most every second, up to WEBSOCKET_DEGRADE_MAX_FACTOR); or its backlog drained and they are being restored (degraded: false once they are back). Lossless channels are never thinned.",
            "examples": [
              {
                "type": "delivery_status",
                "degraded": true,
                "intervals_ms": {
                  "price_updates": 6000,
                  "portfolio": 10000
                },
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            ],
            "x-parser-schema-id": "DeliveryStatusPayload"
          },
          "examples": [
            {
              "name": "delivery_status_example_1",
              "payload": {
                "type": "delivery_status",
                "degraded": true,
                "intervals_ms": {
                  "price_updates": 6000,
                  "portfolio": 10000
                },
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            }
          ],
          "x-parser-unique-object-id": "delivery_status"
        },
        "state_status": {
          "name": "state_status",
          "title": "State status",
          "summary": "A state channel's key (an order book's symbol) is not current: upstream skipped a sequence. No update goes out for it until upstream sends a snapshot, which reaches the client as a snapshot frame (order_book_snapshot) and makes the key current again. Also sent right after the subscribed ack for a requested key that is not current at that moment.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "state_status",
                "x-parser-schema-id": "<anonymous-schema-144>"
              },
              "channel": {
                "type": "string",
                "description": "A state channel, e.g. order_books",
                "x-parser-schema-id": "<anonymous-schema-145>"
              },
              "symbol": {
                "type": "string",
                "description": "The key whose view is not current",
                "x-parser-schema-id": "<anonymous-schema-146>"
              },
              "status": {
                "type": "string",
                "const": "stale",
                "title": "StateLiveness",
                "x-parser-schema-id": "<anonymous-schema-147>"
              },
              "reason": {
                "type": "string",
                "const": "upstream_gap",
                "title": "StateStaleReason",
                "description": "upstream_gap: upstream skipped a sequence, so the gateway's copy of the key is not whole",
                "x-parser-schema-id": "<anonymous-schema-148>"
              },
              "sequence": {
                "type": "integer",
                "minimum": -9007199254740991,
                "maximum": 9007199254740991,
                "description": "The last sequence the view was good at (the last one the client was sent for it)",
                "x-parser-schema-id": "<anonymous-schema-149>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-150>"
              }
            },
            "required": [
              "type",
              "channel",
              "symbol",
              "status",
              "reason",
              "sequence",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "StateStatus",
            "description": "A state channel's key (an order book's symbol) is not current: upstream skipped a sequence. No update goes out for it until upstream sends a snapshot, which reaches the client as a snapshot frame (order_book_snapshot) and makes the key current again. Also sent right after the subscribed ack for a requested key that is not current at that moment.",
            "examples": [
              {
                "type": "state_status",
                "channel": "order_books",
                "symbol": "AAPL",
                "status": "stale",
                "reason": "upstream_gap",
                "sequence": 1002,
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            ],
            "x-parser-schema-id": "StateStatusPayload"
          },
          "examples": [
            {
              "name": "state_status_example_1",
              "payload": {
                "type": "state_status",
                "channel": "order_books",
                "symbol": "AAPL",
                "status": "stale",
                "reason": "upstream_gap",
                "sequence": 1002,
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            }
          ],
          "x-parser-unique-object-id": "state_status"
        },
        "shutdown_notice": {
          "name": "shutdown_notice",
          "title": "Shutdown notice",
          "summary": "Sent to every client when the gateway begins a graceful shutdown (SIGTERM): the connection is closed with 1001 after reconnect_in_ms, a time drawn per client from 0 to SHUTDOWN_RECONNECT_SPREAD_MS so that clients come back spread out, not all at once. A client that ignores it just sees the 1001.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "shutdown_notice",
                "x-parser-schema-id": "<anonymous-schema-151>"
              },
              "reconnect_in_ms": {
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "description": "Milliseconds from now at which the gateway closes this connection with 1001; reconnect then (to another instance), without backoff, resuming with since",
                "x-parser-schema-id": "<anonymous-schema-152>"
              }
            },
            "required": [
              "type",
              "reconnect_in_ms"
            ],
            "additionalProperties": false,
            "title": "ShutdownNotice",
            "description": "Sent to every client when the gateway begins a graceful shutdown (SIGTERM): the connection is closed with 1001 after reconnect_in_ms, a time drawn per client from 0 to SHUTDOWN_RECONNECT_SPREAD_MS so that clients come back spread out, not all at once. A client that ignores it just sees the 1001.",
            "examples": [
              {
                "type": "shutdown_notice",
                "reconnect_in_ms": 4200
              }
            ],
            "x-parser-schema-id": "ShutdownNoticePayload"
          },
          "examples": [
            {
              "name": "shutdown_notice_example_1",
              "payload": {
                "type": "shutdown_notice",
                "reconnect_in_ms": 4200
              }
            }
          ],
          "x-parser-unique-object-id": "shutdown_notice"
        },
        "order_book_snapshot": {
          "name": "order_book_snapshot",
          "title": "Order book snapshot",
          "summary": "The top depth levels per side of a symbol's book. It replaces the client's book whenever it comes: on subscribing (or, for a symbol the gateway had no book of then, when its first upstream snapshot arrives), after an upstream gap, after the client fell behind and drained, and on an upstream snapshot that changed nothing in the view (every gateway on the subject then sends the same sequence)",
          "description": "Channel `order_books` (state). Order books: a snapshot of the top levels per side, then updates that carry every level whose size changed, each with a CRC-32 checksum of the top 10 levels per side. A key's whole view, sent after subscribing (one per subscribed key with a current view), after upstream resets the key, and to a client that fell behind once it has drained. Updates follow from its sequence.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "order_book_snapshot",
                "x-parser-schema-id": "<anonymous-schema-153>"
              },
              "symbol": {
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-154>"
              },
              "sequence": {
                "type": "integer",
                "minimum": -9007199254740991,
                "maximum": 9007199254740991,
                "description": "The upstream sequence the view is at",
                "x-parser-schema-id": "<anonymous-schema-155>"
              },
              "bids": {
                "type": "array",
                "items": {
                  "type": "array",
                  "items": [
                    {
                      "type": "number",
                      "description": "Price",
                      "x-parser-schema-id": "<anonymous-schema-158>"
                    },
                    {
                      "type": "number",
                      "description": "Size",
                      "x-parser-schema-id": "<anonymous-schema-159>"
                    }
                  ],
                  "additionalItems": false,
                  "minItems": 2,
                  "maxItems": 2,
                  "title": "OrderBookLevel",
                  "x-parser-schema-id": "<anonymous-schema-157>"
                },
                "description": "Best (highest) first, at most depth levels",
                "x-parser-schema-id": "<anonymous-schema-156>"
              },
              "asks": {
                "type": "array",
                "items": {
                  "type": "array",
                  "items": [
                    {
                      "type": "number",
                      "description": "Price",
                      "x-parser-schema-id": "<anonymous-schema-162>"
                    },
                    {
                      "type": "number",
                      "description": "Size",
                      "x-parser-schema-id": "<anonymous-schema-163>"
                    }
                  ],
                  "additionalItems": false,
                  "minItems": 2,
                  "maxItems": 2,
                  "title": "OrderBookLevel",
                  "x-parser-schema-id": "<anonymous-schema-161>"
                },
                "description": "Best (lowest) first, at most depth levels",
                "x-parser-schema-id": "<anonymous-schema-160>"
              },
              "checksum": {
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "description": "CRC-32 (IEEE, as zlib's crc32), unsigned, of the UTF-8 text: the top 10 asks ascending, then the top 10 bids descending, each level price:size with numbers as JSON.stringify writes them, levels joined with ',' and the two sides with '|'",
                "x-parser-schema-id": "<anonymous-schema-164>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-165>"
              },
              "gw_rx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway received the message from NATS (of a merged frame: its oldest message) (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-166>"
              },
              "gw_tx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway wrote the frame to the socket (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-167>"
              }
            },
            "required": [
              "type",
              "symbol",
              "sequence",
              "bids",
              "asks",
              "checksum",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "OrderBookSnapshot",
            "description": "The top depth levels per side of a symbol's book. It replaces the client's book whenever it comes: on subscribing (or, for a symbol the gateway had no book of then, when its first upstream snapshot arrives), after an upstream gap, after the client fell behind and drained, and on an upstream snapshot that changed nothing in the view (every gateway on the subject then sends the same sequence)",
            "x-parser-schema-id": "OrderBookSnapshotPayload"
          },
          "examples": [
            {
              "name": "order_book_snapshot_example_1",
              "payload": {
                "type": "order_book_snapshot",
                "symbol": "AAPL",
                "sequence": 1001,
                "bids": [
                  [
                    150.24,
                    300
                  ],
                  [
                    150.23,
                    100
                  ]
                ],
                "asks": [
                  [
                    150.25,
                    200
                  ],
                  [
                    150.26,
                    500
                  ]
                ],
                "checksum": 1199320608,
                "timestamp": "2024-12-19T12:00:00Z"
              }
            }
          ],
          "x-parser-unique-object-id": "order_book_snapshot"
        },
        "order_book_update": {
          "name": "order_book_update",
          "title": "Order book update",
          "summary": "Apply each level (size 0 removes it) to the view at prev_sequence to get the view at sequence: no truncation is left to the client",
          "description": "Channel `order_books` (state). The changes that turn the view at prev_sequence, the last sequence this client received for the key, into the view at sequence; verify checksum after applying it, and subscribe to the key again if it does not match.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "order_book_update",
                "x-parser-schema-id": "<anonymous-schema-168>"
              },
              "symbol": {
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-169>"
              },
              "sequence": {
                "type": "integer",
                "minimum": -9007199254740991,
                "maximum": 9007199254740991,
                "description": "The upstream sequence the view is at after this update",
                "x-parser-schema-id": "<anonymous-schema-170>"
              },
              "prev_sequence": {
                "type": "integer",
                "minimum": -9007199254740991,
                "maximum": 9007199254740991,
                "description": "The sequence of the view this update applies to: the last one this client received",
                "x-parser-schema-id": "<anonymous-schema-171>"
              },
              "bids": {
                "type": "array",
                "items": {
                  "type": "array",
                  "items": [
                    {
                      "type": "number",
                      "description": "Price",
                      "x-parser-schema-id": "<anonymous-schema-174>"
                    },
                    {
                      "type": "number",
                      "description": "New size; 0: the level left the view",
                      "x-parser-schema-id": "<anonymous-schema-175>"
                    }
                  ],
                  "additionalItems": false,
                  "minItems": 2,
                  "maxItems": 2,
                  "title": "OrderBookLevelChange",
                  "x-parser-schema-id": "<anonymous-schema-173>"
                },
                "description": "Every bid level whose size in the view changed, best first",
                "x-parser-schema-id": "<anonymous-schema-172>"
              },
              "asks": {
                "type": "array",
                "items": {
                  "type": "array",
                  "items": [
                    {
                      "type": "number",
                      "description": "Price",
                      "x-parser-schema-id": "<anonymous-schema-178>"
                    },
                    {
                      "type": "number",
                      "description": "New size; 0: the level left the view",
                      "x-parser-schema-id": "<anonymous-schema-179>"
                    }
                  ],
                  "additionalItems": false,
                  "minItems": 2,
                  "maxItems": 2,
                  "title": "OrderBookLevelChange",
                  "x-parser-schema-id": "<anonymous-schema-177>"
                },
                "description": "Every ask level whose size in the view changed, best first",
                "x-parser-schema-id": "<anonymous-schema-176>"
              },
              "checksum": {
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "description": "CRC-32 (IEEE, as zlib's crc32), unsigned, of the UTF-8 text: the top 10 asks ascending, then the top 10 bids descending, each level price:size with numbers as JSON.stringify writes them, levels joined with ',' and the two sides with '|'",
                "x-parser-schema-id": "<anonymous-schema-180>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-181>"
              },
              "gw_rx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway received the message from NATS (of a merged frame: its oldest message) (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-182>"
              },
              "gw_tx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway wrote the frame to the socket (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-183>"
              }
            },
            "required": [
              "type",
              "symbol",
              "sequence",
              "prev_sequence",
              "bids",
              "asks",
              "checksum",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "OrderBookUpdate",
            "description": "Apply each level (size 0 removes it) to the view at prev_sequence to get the view at sequence: no truncation is left to the client",
            "x-parser-schema-id": "OrderBookUpdatePayload"
          },
          "examples": [
            {
              "name": "order_book_update_example_1",
              "payload": {
                "type": "order_book_update",
                "symbol": "AAPL",
                "sequence": 1002,
                "prev_sequence": 1001,
                "bids": [
                  [
                    150.24,
                    0
                  ]
                ],
                "asks": [
                  [
                    150.25,
                    250
                  ]
                ],
                "checksum": 1755213394,
                "timestamp": "2024-12-19T12:00:00.1Z"
              }
            }
          ],
          "x-parser-unique-object-id": "order_book_update"
        },
        "portfolio_update": {
          "name": "portfolio_update",
          "title": "Portfolio update",
          "summary": "Latest portfolio of an account, conflated every WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL seconds",
          "description": "Channel `portfolio`. Portfolio positions and P&L, conflated per account and flushed every WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL seconds. On this channel, subscribe `symbols` name accounts. With WEBSOCKET_AUTH=jwt, a client receives only the portfolios of the accounts its token lists (an update naming no account belongs to account \"default\").",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "portfolio_update",
                "x-parser-schema-id": "<anonymous-schema-184>"
              },
              "channel": {
                "type": "string",
                "const": "portfolio",
                "x-parser-schema-id": "<anonymous-schema-185>"
              },
              "account": {
                "description": "The portfolio's account, when upstream named one",
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-186>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-187>"
              },
              "data": {
                "type": "object",
                "properties": {
                  "positions": {
                    "type": "object",
                    "propertyNames": {
                      "type": "string",
                      "x-parser-schema-id": "<anonymous-schema-197>"
                    },
                    "additionalProperties": {
                      "type": "object",
                      "properties": {
                        "symbol": {
                          "type": "string",
                          "pattern": "^[A-Za-z0-9._:/-]{1,32}$",
                          "x-parser-schema-id": "<anonymous-schema-191>"
                        },
                        "quantity": {
                          "type": "number",
                          "x-parser-schema-id": "<anonymous-schema-192>"
                        },
                        "average_price": {
                          "type": "number",
                          "x-parser-schema-id": "<anonymous-schema-193>"
                        },
                        "market_price": {
                          "type": "number",
                          "x-parser-schema-id": "<anonymous-schema-194>"
                        },
                        "unrealized_pnl": {
                          "type": "number",
                          "x-parser-schema-id": "<anonymous-schema-195>"
                        },
                        "unrealized_pnl_pct": {
                          "type": "number",
                          "x-parser-schema-id": "<anonymous-schema-196>"
                        }
                      },
                      "required": [
                        "symbol",
                        "quantity",
                        "average_price",
                        "market_price",
                        "unrealized_pnl",
                        "unrealized_pnl_pct"
                      ],
                      "additionalProperties": false,
                      "title": "PortfolioPosition",
                      "description": "One open position of an account",
                      "x-parser-schema-id": "<anonymous-schema-190>"
                    },
                    "x-parser-schema-id": "<anonymous-schema-189>"
                  },
                  "total_pnl": {
                    "type": "number",
                    "x-parser-schema-id": "<anonymous-schema-198>"
                  },
                  "position_count": {
                    "type": "integer",
                    "minimum": -9007199254740991,
                    "maximum": 9007199254740991,
                    "x-parser-schema-id": "<anonymous-schema-199>"
                  }
                },
                "required": [
                  "positions",
                  "total_pnl",
                  "position_count"
                ],
                "additionalProperties": false,
                "title": "PortfolioData",
                "description": "The account's positions and their totals",
                "x-parser-schema-id": "<anonymous-schema-188>"
              },
              "gw_rx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway received the message from NATS (of a merged frame: its oldest message) (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-200>"
              },
              "gw_tx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway wrote the frame to the socket (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-201>"
              }
            },
            "required": [
              "type",
              "channel",
              "timestamp",
              "data"
            ],
            "additionalProperties": false,
            "title": "PortfolioUpdate",
            "description": "Latest portfolio of an account, conflated every WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL seconds",
            "x-parser-schema-id": "PortfolioUpdatePayload"
          },
          "examples": [
            {
              "name": "portfolio_update_example_1",
              "payload": {
                "type": "portfolio_update",
                "channel": "portfolio",
                "timestamp": "2024-12-19T12:00:00Z",
                "data": {
                  "positions": {
                    "AAPL": {
                      "symbol": "AAPL",
                      "quantity": 10,
                      "average_price": 150.25,
                      "market_price": 151.5,
                      "unrealized_pnl": 12.5,
                      "unrealized_pnl_pct": 0.83
                    }
                  },
                  "total_pnl": 12.5,
                  "position_count": 1
                }
              }
            }
          ],
          "x-parser-unique-object-id": "portfolio_update"
        },
        "price_update": {
          "name": "price_update",
          "title": "Price update",
          "summary": "Conflated prices: one frame per interval with only the client's symbols that changed since its last frame",
          "description": "Channel `price_updates`. Live prices. Ticks are conflated per symbol and flushed every WEBSOCKET_PRICE_UPDATE_INTERVAL seconds: each client gets one price_update per interval holding only its symbols that changed.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "price_update",
                "x-parser-schema-id": "<anonymous-schema-202>"
              },
              "symbols": {
                "type": "object",
                "propertyNames": {
                  "type": "string",
                  "x-parser-schema-id": "<anonymous-schema-213>"
                },
                "additionalProperties": {
                  "type": "object",
                  "properties": {
                    "price": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-205>"
                    },
                    "change": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-206>"
                    },
                    "change_pct": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-207>"
                    },
                    "volume": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-208>"
                    },
                    "high": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-209>"
                    },
                    "low": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-210>"
                    },
                    "open": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-211>"
                    },
                    "close": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-212>"
                    }
                  },
                  "required": [
                    "price"
                  ],
                  "additionalProperties": false,
                  "title": "PriceEntry",
                  "description": "One symbol's quote: the fields its latest tick carried",
                  "x-parser-schema-id": "<anonymous-schema-204>"
                },
                "description": "Latest quote per symbol that changed since the client's last frame",
                "x-parser-schema-id": "<anonymous-schema-203>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-214>"
              },
              "gw_rx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway received the message from NATS (of a merged frame: its oldest message) (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-215>"
              },
              "gw_tx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway wrote the frame to the socket (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-216>"
              }
            },
            "required": [
              "type",
              "symbols",
              "timestamp"
            ],
            "additionalProperties": false,
            "title": "PriceUpdate",
            "description": "Conflated prices: one frame per interval with only the client's symbols that changed since its last frame",
            "x-parser-schema-id": "PriceUpdatePayload"
          },
          "examples": [
            {
              "name": "price_update_example_1",
              "payload": {
                "type": "price_update",
                "symbols": {
                  "AAPL": {
                    "price": 150.25,
                    "change": 0.5,
                    "change_pct": 0.33,
                    "volume": 1000000,
                    "high": 151,
                    "low": 149.5,
                    "open": 150,
                    "close": 150.25
                  },
                  "MSFT": {
                    "price": 380.5,
                    "change": -1.2,
                    "change_pct": -0.31,
                    "volume": 2000000
                  }
                },
                "timestamp": "2024-12-19T12:00:00.000Z"
              }
            }
          ],
          "x-parser-unique-object-id": "price_update"
        },
        "signal": {
          "name": "signal",
          "title": "Trading signal",
          "summary": "A trading signal, delivered as soon as it is generated",
          "description": "Channel `signals`. Trading signals, broadcast the moment a strategy generates them. Never conflated or silently dropped: a client that cannot keep up is closed with 4001 and resumes with since. Every frame carries its position (seq, epoch); subscribe with since to resume after a reconnect.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "signal",
                "x-parser-schema-id": "<anonymous-schema-217>"
              },
              "signal_type": {
                "type": "string",
                "enum": [
                  "BUY",
                  "SELL",
                  "HOLD"
                ],
                "title": "SignalType",
                "description": "What the strategy recommends",
                "x-parser-schema-id": "<anonymous-schema-218>"
              },
              "symbol": {
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-219>"
              },
              "price": {
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-220>"
              },
              "quantity": {
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-221>"
              },
              "confidence": {
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-222>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-223>"
              },
              "seq": {
                "type": "integer",
                "exclusiveMinimum": 0,
                "maximum": 9007199254740991,
                "description": "Position in the channel's history: strictly increasing within an epoch (gaps are normal)",
                "x-parser-schema-id": "<anonymous-schema-224>"
              },
              "epoch": {
                "type": "string",
                "minLength": 1,
                "description": "Names the history seq counts in; it changes only when that history was lost. Opaque: compare it for equality only",
                "x-parser-schema-id": "<anonymous-schema-225>"
              },
              "gw_rx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway received the message from NATS (of a merged frame: its oldest message) (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-226>"
              },
              "gw_tx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway wrote the frame to the socket (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-227>"
              }
            },
            "required": [
              "type",
              "signal_type",
              "symbol",
              "price",
              "quantity",
              "confidence",
              "timestamp",
              "seq",
              "epoch"
            ],
            "additionalProperties": false,
            "title": "TradingSignal",
            "description": "A trading signal, delivered as soon as it is generated",
            "x-parser-schema-id": "SignalPayload"
          },
          "examples": [
            {
              "name": "signal_example_1",
              "payload": {
                "type": "signal",
                "signal_type": "BUY",
                "symbol": "AAPL",
                "price": 150.25,
                "quantity": 10,
                "confidence": 0.85,
                "timestamp": "2024-12-19T12:00:00Z",
                "seq": 1041,
                "epoch": "j6MdjjsBl8Qj"
              }
            }
          ],
          "x-parser-unique-object-id": "signal"
        },
        "trade_executed": {
          "name": "trade_executed",
          "title": "Trade executed",
          "summary": "A trade execution notification, delivered immediately",
          "description": "Channel `trades`. Trade execution notifications, delivered immediately. Never conflated or silently dropped: a client that cannot keep up is closed with 4001 and resumes with since. With WEBSOCKET_AUTH=jwt, a client receives only the trades of the accounts its token lists. Every frame carries its position (seq, epoch); subscribe with since to resume after a reconnect.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "type": {
                "type": "string",
                "const": "trade_executed",
                "x-parser-schema-id": "<anonymous-schema-228>"
              },
              "symbol": {
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-229>"
              },
              "side": {
                "type": "string",
                "enum": [
                  "BUY",
                  "SELL"
                ],
                "title": "TradeSide",
                "x-parser-schema-id": "<anonymous-schema-230>"
              },
              "quantity": {
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-231>"
              },
              "price": {
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-232>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$",
                "description": "ISO-8601 UTC timestamp",
                "x-parser-schema-id": "<anonymous-schema-233>"
              },
              "account": {
                "description": "The trade's account, when upstream named one",
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-234>"
              },
              "trade_id": {
                "description": "The upstream execution id, when upstream gave one",
                "type": "string",
                "x-parser-schema-id": "<anonymous-schema-235>"
              },
              "seq": {
                "type": "integer",
                "exclusiveMinimum": 0,
                "maximum": 9007199254740991,
                "description": "Position in the channel's history: strictly increasing within an epoch (gaps are normal)",
                "x-parser-schema-id": "<anonymous-schema-236>"
              },
              "epoch": {
                "type": "string",
                "minLength": 1,
                "description": "Names the history seq counts in; it changes only when that history was lost. Opaque: compare it for equality only",
                "x-parser-schema-id": "<anonymous-schema-237>"
              },
              "gw_rx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway received the message from NATS (of a merged frame: its oldest message) (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-238>"
              },
              "gw_tx": {
                "description": "Only on a subscription made with timing: true: wall-clock microseconds since the epoch when the gateway wrote the frame to the socket (docs/latency.md)",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-239>"
              }
            },
            "required": [
              "type",
              "symbol",
              "side",
              "quantity",
              "price",
              "timestamp",
              "seq",
              "epoch"
            ],
            "additionalProperties": false,
            "title": "TradeExecuted",
            "description": "A trade execution notification, delivered immediately",
            "x-parser-schema-id": "TradeExecutedPayload"
          },
          "examples": [
            {
              "name": "trade_executed_example_1",
              "payload": {
                "type": "trade_executed",
                "symbol": "AAPL",
                "side": "BUY",
                "quantity": 10,
                "price": 150.25,
                "timestamp": "2024-12-19T12:00:00Z",
                "seq": 1041,
                "epoch": "jaE0LMyxxrVh"
              }
            }
          ],
          "x-parser-unique-object-id": "trade_executed"
        }
      },
      "bindings": {
        "ws": {
          "bindingVersion": "0.1.0",
          "method": "GET",
          "query": {
            "type": "object",
            "properties": {
              "client_id": {
                "type": "string",
                "pattern": "^[A-Za-z0-9._:-]{1,64}$",
                "description": "Optional client id; a UUID is generated when absent. A second connection with the same id takes over (the older is closed with 4000)."
              }
            }
          }
        }
      },
      "x-parser-unique-object-id": "websocket"
    },
    "nats_order_books": {
      "address": "market.books.>",
      "title": "NATS ingest: order_books",
      "description": "Upstream services publish order_books data here as JSON. Order books: a snapshot of the top levels per side, then updates that carry every level whose size changed, each with a CRC-32 checksum of the top 10 levels per side.",
      "servers": [
        "$ref:$.servers.upstream"
      ],
      "messages": {
        "nats_order_books": {
          "name": "nats_order_books",
          "title": "Upstream book message",
          "summary": "A snapshot replaces the symbol's book; a delta sets each listed level's size (0 removes it) and must follow the symbol's last sequence",
          "description": "Published by upstream services on `market.books.>` (override: NATS_SUBJECT_ORDER_BOOKS). Invalid payloads are counted in the stream's error_count and dropped.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "symbol": {
                "type": "string",
                "pattern": "^[A-Za-z0-9._:/-]{1,32}$",
                "x-parser-schema-id": "<anonymous-schema-240>"
              },
              "kind": {
                "type": "string",
                "enum": [
                  "snapshot",
                  "delta"
                ],
                "title": "BookMessageKind",
                "x-parser-schema-id": "<anonymous-schema-241>"
              },
              "sequence": {
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "description": "The upstream's own sequence, strictly increasing per symbol",
                "x-parser-schema-id": "<anonymous-schema-242>"
              },
              "bids": {
                "type": "array",
                "items": {
                  "type": "array",
                  "items": [
                    {
                      "type": "number",
                      "exclusiveMinimum": 0,
                      "description": "Price of the level, greater than 0",
                      "x-parser-schema-id": "<anonymous-schema-245>"
                    },
                    {
                      "type": "number",
                      "minimum": 0,
                      "description": "Size at the level; in a delta, 0 removes it",
                      "x-parser-schema-id": "<anonymous-schema-246>"
                    }
                  ],
                  "additionalItems": false,
                  "minItems": 2,
                  "maxItems": 2,
                  "title": "BookLevel",
                  "x-parser-schema-id": "<anonymous-schema-244>"
                },
                "description": "Bid levels: the whole side (snapshot) or those that change (delta)",
                "x-parser-schema-id": "<anonymous-schema-243>"
              },
              "asks": {
                "type": "array",
                "items": {
                  "type": "array",
                  "items": [
                    {
                      "type": "number",
                      "exclusiveMinimum": 0,
                      "description": "Price of the level, greater than 0",
                      "x-parser-schema-id": "<anonymous-schema-249>"
                    },
                    {
                      "type": "number",
                      "minimum": 0,
                      "description": "Size at the level; in a delta, 0 removes it",
                      "x-parser-schema-id": "<anonymous-schema-250>"
                    }
                  ],
                  "additionalItems": false,
                  "minItems": 2,
                  "maxItems": 2,
                  "title": "BookLevel",
                  "x-parser-schema-id": "<anonymous-schema-248>"
                },
                "description": "Ask levels: the whole side (snapshot) or those that change (delta)",
                "x-parser-schema-id": "<anonymous-schema-247>"
              },
              "timestamp": {
                "description": "When upstream produced it; the gateway's time if absent",
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|([+-](?:[01]\\d|2[0-3]):[0-5]\\d)))$",
                "x-parser-schema-id": "<anonymous-schema-251>"
              }
            },
            "required": [
              "symbol",
              "kind",
              "sequence",
              "bids",
              "asks"
            ],
            "title": "UpstreamBookMessage",
            "description": "A snapshot replaces the symbol's book; a delta sets each listed level's size (0 removes it) and must follow the symbol's last sequence",
            "x-parser-schema-id": "NatsOrderBooksPayload"
          },
          "examples": [
            {
              "name": "nats_order_books_example_1",
              "payload": {
                "symbol": "AAPL",
                "kind": "snapshot",
                "sequence": 1001,
                "bids": [
                  [
                    150.24,
                    300
                  ],
                  [
                    150.23,
                    100
                  ]
                ],
                "asks": [
                  [
                    150.25,
                    200
                  ],
                  [
                    150.26,
                    500
                  ]
                ],
                "timestamp": "2024-12-19T12:00:00Z"
              }
            },
            {
              "name": "nats_order_books_example_2",
              "payload": {
                "symbol": "AAPL",
                "kind": "delta",
                "sequence": 1002,
                "bids": [
                  [
                    150.24,
                    0
                  ]
                ],
                "asks": [
                  [
                    150.25,
                    250
                  ]
                ],
                "timestamp": "2024-12-19T12:00:00.1Z"
              }
            }
          ],
          "x-parser-unique-object-id": "nats_order_books"
        }
      },
      "x-parser-unique-object-id": "nats_order_books"
    },
    "nats_portfolio": {
      "address": "portfolio.updates",
      "title": "NATS ingest: portfolio",
      "description": "Upstream services publish portfolio data here as JSON. Portfolio positions and P&L, conflated per account and flushed every WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL seconds. On this channel, subscribe `symbols` name accounts. With WEBSOCKET_AUTH=jwt, a client receives only the portfolios of the accounts its token lists (an update naming no account belongs to account \"default\").",
      "servers": [
        "$ref:$.servers.upstream"
      ],
      "messages": {
        "nats_portfolio": {
          "name": "nats_portfolio",
          "title": "Upstream portfolio snapshot",
          "summary": "The full portfolio of one account, published on portfolio.updates",
          "description": "Published by upstream services on `portfolio.updates` (override: NATS_SUBJECT_PORTFOLIO). Invalid payloads are counted in the stream's error_count and dropped.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "account": {
                "description": "Account id; \"default\" when absent. Clients filter on it via symbols",
                "type": "string",
                "pattern": "^[A-Za-z0-9._:/-]{1,32}$",
                "x-parser-schema-id": "<anonymous-schema-252>"
              },
              "positions": {
                "type": "object",
                "propertyNames": {
                  "type": "string",
                  "x-parser-schema-id": "<anonymous-schema-261>"
                },
                "additionalProperties": {
                  "type": "object",
                  "properties": {
                    "symbol": {
                      "type": "string",
                      "pattern": "^[A-Za-z0-9._:/-]{1,32}$",
                      "x-parser-schema-id": "<anonymous-schema-255>"
                    },
                    "quantity": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-256>"
                    },
                    "average_price": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-257>"
                    },
                    "market_price": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-258>"
                    },
                    "unrealized_pnl": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-259>"
                    },
                    "unrealized_pnl_pct": {
                      "type": "number",
                      "x-parser-schema-id": "<anonymous-schema-260>"
                    }
                  },
                  "required": [
                    "symbol",
                    "quantity",
                    "average_price",
                    "market_price",
                    "unrealized_pnl",
                    "unrealized_pnl_pct"
                  ],
                  "title": "UpstreamPortfolioPosition",
                  "description": "One open position of an account",
                  "x-parser-schema-id": "<anonymous-schema-254>"
                },
                "description": "Open positions by symbol",
                "x-parser-schema-id": "<anonymous-schema-253>"
              },
              "total_pnl": {
                "type": "number",
                "description": "Total unrealized P&L",
                "x-parser-schema-id": "<anonymous-schema-262>"
              },
              "position_count": {
                "description": "Number of positions; counted if absent",
                "type": "integer",
                "minimum": 0,
                "maximum": 9007199254740991,
                "x-parser-schema-id": "<anonymous-schema-263>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|([+-](?:[01]\\d|2[0-3]):[0-5]\\d)))$",
                "description": "ISO-8601 timestamp (UTC `Z` or with offset)",
                "x-parser-schema-id": "<anonymous-schema-264>"
              }
            },
            "required": [
              "positions",
              "total_pnl"
            ],
            "title": "UpstreamPortfolioSnapshot",
            "description": "The full portfolio of one account, published on portfolio.updates",
            "x-parser-schema-id": "NatsPortfolioPayload"
          },
          "examples": [
            {
              "name": "nats_portfolio_example_1",
              "payload": {
                "positions": {
                  "AAPL": {
                    "symbol": "AAPL",
                    "quantity": 10,
                    "average_price": 150.25,
                    "market_price": 151.5,
                    "unrealized_pnl": 12.5,
                    "unrealized_pnl_pct": 0.83
                  }
                },
                "total_pnl": 12.5,
                "position_count": 1,
                "timestamp": "2024-12-19T12:00:00Z"
              }
            }
          ],
          "x-parser-unique-object-id": "nats_portfolio"
        }
      },
      "x-parser-unique-object-id": "nats_portfolio"
    },
    "nats_price_updates": {
      "address": "market.prices.>",
      "title": "NATS ingest: price_updates",
      "description": "Upstream services publish price_updates data here as JSON. Live prices. Ticks are conflated per symbol and flushed every WEBSOCKET_PRICE_UPDATE_INTERVAL seconds: each client gets one price_update per interval holding only its symbols that changed.",
      "servers": [
        "$ref:$.servers.upstream"
      ],
      "messages": {
        "nats_price_updates": {
          "name": "nats_price_updates",
          "title": "Upstream price tick",
          "summary": "One price tick for one symbol, published on market.prices.<SYMBOL>",
          "description": "Published by upstream services on `market.prices.>` (override: NATS_SUBJECT_PRICE_UPDATES). Invalid payloads are counted in the stream's error_count and dropped.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "symbol": {
                "type": "string",
                "pattern": "^[A-Za-z0-9._:/-]{1,32}$",
                "description": "Instrument symbol; by convention also the last subject token",
                "x-parser-schema-id": "<anonymous-schema-265>"
              },
              "price": {
                "type": "number",
                "description": "Last traded price",
                "x-parser-schema-id": "<anonymous-schema-266>"
              },
              "change": {
                "description": "Absolute change since the previous close",
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-267>"
              },
              "change_pct": {
                "description": "Change since the previous close, in percent",
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-268>"
              },
              "volume": {
                "description": "Traded volume",
                "type": "number",
                "minimum": 0,
                "x-parser-schema-id": "<anonymous-schema-269>"
              },
              "high": {
                "description": "Session high",
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-270>"
              },
              "low": {
                "description": "Session low",
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-271>"
              },
              "open": {
                "description": "Session open",
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-272>"
              },
              "close": {
                "description": "Previous close",
                "type": "number",
                "x-parser-schema-id": "<anonymous-schema-273>"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|([+-](?:[01]\\d|2[0-3]):[0-5]\\d)))$",
                "description": "ISO-8601 timestamp (UTC `Z` or with offset)",
                "x-parser-schema-id": "<anonymous-schema-274>"
              }
            },
            "required": [
              "symbol",
              "price"
            ],
            "title": "UpstreamPriceTick",
            "description": "One price tick for one symbol, published on `market.prices.<SYMBOL>`",
            "x-parser-schema-id": "NatsPriceUpdatesPayload"
          },
          "examples": [
            {
              "name": "nats_price_updates_example_1",
              "payload": {
                "symbol": "AAPL",
                "price": 150.25,
                "change": 0.5,
                "change_pct": 0.33,
                "volume": 1000000,
                "high": 151,
                "low": 149.5,
                "open": 150,
                "close": 150.25
              }
            },
            {
              "name": "nats_price_updates_example_2",
              "payload": {
                "symbol": "MSFT",
                "price": 380.5,
                "change": -1.2,
                "change_pct": -0.31,
                "volume": 2000000
              }
            }
          ],
          "x-parser-unique-object-id": "nats_price_updates"
        }
      },
      "x-parser-unique-object-id": "nats_price_updates"
    },
    "nats_signals": {
      "address": "strategy.signals.>",
      "title": "NATS ingest: signals",
      "description": "Upstream services publish signals data here as JSON. Trading signals, broadcast the moment a strategy generates them. Never conflated or silently dropped: a client that cannot keep up is closed with 4001 and resumes with since.",
      "servers": [
        "$ref:$.servers.upstream"
      ],
      "messages": {
        "nats_signals": {
          "name": "nats_signals",
          "title": "Upstream trading signal",
          "summary": "A trading signal, published on strategy.signals.<strategy or symbol>",
          "description": "Published by upstream services on `strategy.signals.>` (override: NATS_SUBJECT_SIGNALS). Invalid payloads are counted in the stream's error_count and dropped.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "signal_type": {
                "type": "string",
                "enum": [
                  "BUY",
                  "SELL",
                  "HOLD"
                ],
                "title": "SignalType",
                "description": "What the strategy recommends",
                "x-parser-schema-id": "<anonymous-schema-275>"
              },
              "symbol": {
                "type": "string",
                "pattern": "^[A-Za-z0-9._:/-]{1,32}$",
                "x-parser-schema-id": "<anonymous-schema-276>"
              },
              "price": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Reference price of the signal",
                "x-parser-schema-id": "<anonymous-schema-277>"
              },
              "quantity": {
                "type": "number",
                "minimum": 0,
                "description": "Suggested quantity",
                "x-parser-schema-id": "<anonymous-schema-278>"
              },
              "confidence": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "Model confidence, 0 to 1",
                "x-parser-schema-id": "<anonymous-schema-279>"
              },
              "timestamp": {
                "description": "When the signal was generated; the gateway's time if absent",
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|([+-](?:[01]\\d|2[0-3]):[0-5]\\d)))$",
                "x-parser-schema-id": "<anonymous-schema-280>"
              }
            },
            "required": [
              "signal_type",
              "symbol",
              "price",
              "quantity",
              "confidence"
            ],
            "title": "UpstreamTradingSignal",
            "description": "A trading signal, published on `strategy.signals.<strategy or symbol>`",
            "x-parser-schema-id": "NatsSignalsPayload"
          },
          "examples": [
            {
              "name": "nats_signals_example_1",
              "payload": {
                "signal_type": "BUY",
                "symbol": "AAPL",
                "price": 150.25,
                "quantity": 10,
                "confidence": 0.85,
                "timestamp": "2024-12-19T12:00:00Z"
              }
            }
          ],
          "x-parser-unique-object-id": "nats_signals"
        }
      },
      "x-parser-unique-object-id": "nats_signals"
    },
    "nats_trades": {
      "address": "execution.trades.>",
      "title": "NATS ingest: trades",
      "description": "Upstream services publish trades data here as JSON. Trade execution notifications, delivered immediately. Never conflated or silently dropped: a client that cannot keep up is closed with 4001 and resumes with since. With WEBSOCKET_AUTH=jwt, a client receives only the trades of the accounts its token lists.",
      "servers": [
        "$ref:$.servers.upstream"
      ],
      "messages": {
        "nats_trades": {
          "name": "nats_trades",
          "title": "Upstream trade execution",
          "summary": "A trade execution, published on execution.trades.<venue or account>",
          "description": "Published by upstream services on `execution.trades.>` (override: NATS_SUBJECT_TRADES). Invalid payloads are counted in the stream's error_count and dropped.",
          "contentType": "application/json",
          "payload": {
            "type": "object",
            "properties": {
              "symbol": {
                "type": "string",
                "pattern": "^[A-Za-z0-9._:/-]{1,32}$",
                "x-parser-schema-id": "<anonymous-schema-281>"
              },
              "side": {
                "type": "string",
                "enum": [
                  "BUY",
                  "SELL"
                ],
                "title": "TradeSide",
                "x-parser-schema-id": "<anonymous-schema-282>"
              },
              "quantity": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Executed quantity",
                "x-parser-schema-id": "<anonymous-schema-283>"
              },
              "price": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Execution price",
                "x-parser-schema-id": "<anonymous-schema-284>"
              },
              "timestamp": {
                "description": "Execution time; the gateway's time if absent",
                "type": "string",
                "format": "date-time",
                "pattern": "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|([+-](?:[01]\\d|2[0-3]):[0-5]\\d)))$",
                "x-parser-schema-id": "<anonymous-schema-285>"
              },
              "account": {
                "description": "Account the trade belongs to; with WEBSOCKET_AUTH=jwt only its holders see the trade",
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "x-parser-schema-id": "<anonymous-schema-286>"
              },
              "trade_id": {
                "description": "The execution id of the venue or system of record, passed through for reconciliation",
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "x-parser-schema-id": "<anonymous-schema-287>"
              }
            },
            "required": [
              "symbol",
              "side",
              "quantity",
              "price"
            ],
            "title": "UpstreamTradeExecution",
            "description": "A trade execution, published on `execution.trades.<venue or account>`",
            "x-parser-schema-id": "NatsTradesPayload"
          },
          "examples": [
            {
              "name": "nats_trades_example_1",
              "payload": {
                "symbol": "AAPL",
                "side": "BUY",
                "quantity": 10,
                "price": 150.25,
                "timestamp": "2024-12-19T12:00:00Z"
              }
            }
          ],
          "x-parser-unique-object-id": "nats_trades"
        }
      },
      "x-parser-unique-object-id": "nats_trades"
    }
  },
  "operations": {
    "receivePing": {
      "action": "receive",
      "title": "Client sends ping",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.ping"
      ],
      "x-parser-unique-object-id": "receivePing"
    },
    "receiveSubscribe": {
      "action": "receive",
      "title": "Client sends subscribe",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.subscribe"
      ],
      "x-parser-unique-object-id": "receiveSubscribe"
    },
    "receiveUnsubscribe": {
      "action": "receive",
      "title": "Client sends unsubscribe",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.unsubscribe"
      ],
      "x-parser-unique-object-id": "receiveUnsubscribe"
    },
    "receiveAuth": {
      "action": "receive",
      "title": "Client sends auth",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.auth"
      ],
      "x-parser-unique-object-id": "receiveAuth"
    },
    "sendWelcome": {
      "action": "send",
      "title": "Server sends welcome",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.welcome"
      ],
      "x-parser-unique-object-id": "sendWelcome"
    },
    "sendSubscribed": {
      "action": "send",
      "title": "Server sends subscribed",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.subscribed"
      ],
      "x-parser-unique-object-id": "sendSubscribed"
    },
    "sendUnsubscribed": {
      "action": "send",
      "title": "Server sends unsubscribed",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.unsubscribed"
      ],
      "x-parser-unique-object-id": "sendUnsubscribed"
    },
    "sendPong": {
      "action": "send",
      "title": "Server sends pong",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.pong"
      ],
      "x-parser-unique-object-id": "sendPong"
    },
    "sendError": {
      "action": "send",
      "title": "Server sends error",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.error"
      ],
      "x-parser-unique-object-id": "sendError"
    },
    "sendAuthenticated": {
      "action": "send",
      "title": "Server sends authenticated",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.authenticated"
      ],
      "x-parser-unique-object-id": "sendAuthenticated"
    },
    "sendReplayed": {
      "action": "send",
      "title": "Server sends replayed",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.replayed"
      ],
      "x-parser-unique-object-id": "sendReplayed"
    },
    "sendStreamStatus": {
      "action": "send",
      "title": "Server sends stream_status",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.stream_status"
      ],
      "x-parser-unique-object-id": "sendStreamStatus"
    },
    "sendDeliveryStatus": {
      "action": "send",
      "title": "Server sends delivery_status",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.delivery_status"
      ],
      "x-parser-unique-object-id": "sendDeliveryStatus"
    },
    "sendStateStatus": {
      "action": "send",
      "title": "Server sends state_status",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.state_status"
      ],
      "x-parser-unique-object-id": "sendStateStatus"
    },
    "sendShutdownNotice": {
      "action": "send",
      "title": "Server sends shutdown_notice",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.shutdown_notice"
      ],
      "x-parser-unique-object-id": "sendShutdownNotice"
    },
    "sendOrderBookSnapshot": {
      "action": "send",
      "title": "Server sends order_book_snapshot",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.order_book_snapshot"
      ],
      "x-parser-unique-object-id": "sendOrderBookSnapshot"
    },
    "sendOrderBookUpdate": {
      "action": "send",
      "title": "Server sends order_book_update",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.order_book_update"
      ],
      "x-parser-unique-object-id": "sendOrderBookUpdate"
    },
    "sendPortfolioUpdate": {
      "action": "send",
      "title": "Server sends portfolio_update",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.portfolio_update"
      ],
      "x-parser-unique-object-id": "sendPortfolioUpdate"
    },
    "sendPriceUpdate": {
      "action": "send",
      "title": "Server sends price_update",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.price_update"
      ],
      "x-parser-unique-object-id": "sendPriceUpdate"
    },
    "sendSignal": {
      "action": "send",
      "title": "Server sends signal",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.signal"
      ],
      "x-parser-unique-object-id": "sendSignal"
    },
    "sendTradeExecuted": {
      "action": "send",
      "title": "Server sends trade_executed",
      "channel": "$ref:$.channels.websocket",
      "messages": [
        "$ref:$.channels.websocket.messages.trade_executed"
      ],
      "x-parser-unique-object-id": "sendTradeExecuted"
    },
    "ingestOrderBooks": {
      "action": "receive",
      "title": "Gateway receives order_books from NATS",
      "channel": "$ref:$.channels.nats_order_books",
      "messages": [
        "$ref:$.channels.nats_order_books.messages.nats_order_books"
      ],
      "x-parser-unique-object-id": "ingestOrderBooks"
    },
    "ingestPortfolio": {
      "action": "receive",
      "title": "Gateway receives portfolio from NATS",
      "channel": "$ref:$.channels.nats_portfolio",
      "messages": [
        "$ref:$.channels.nats_portfolio.messages.nats_portfolio"
      ],
      "x-parser-unique-object-id": "ingestPortfolio"
    },
    "ingestPriceUpdates": {
      "action": "receive",
      "title": "Gateway receives price_updates from NATS",
      "channel": "$ref:$.channels.nats_price_updates",
      "messages": [
        "$ref:$.channels.nats_price_updates.messages.nats_price_updates"
      ],
      "x-parser-unique-object-id": "ingestPriceUpdates"
    },
    "ingestSignals": {
      "action": "receive",
      "title": "Gateway receives signals from NATS",
      "channel": "$ref:$.channels.nats_signals",
      "messages": [
        "$ref:$.channels.nats_signals.messages.nats_signals"
      ],
      "x-parser-unique-object-id": "ingestSignals"
    },
    "ingestTrades": {
      "action": "receive",
      "title": "Gateway receives trades from NATS",
      "channel": "$ref:$.channels.nats_trades",
      "messages": [
        "$ref:$.channels.nats_trades.messages.nats_trades"
      ],
      "x-parser-unique-object-id": "ingestTrades"
    }
  },
  "components": {
    "schemas": {
      "PingPayload": "$ref:$.channels.websocket.messages.ping.payload",
      "SubscribePayload": "$ref:$.channels.websocket.messages.subscribe.payload",
      "UnsubscribePayload": "$ref:$.channels.websocket.messages.unsubscribe.payload",
      "AuthPayload": "$ref:$.channels.websocket.messages.auth.payload",
      "WelcomePayload": "$ref:$.channels.websocket.messages.welcome.payload",
      "SubscribedPayload": "$ref:$.channels.websocket.messages.subscribed.payload",
      "UnsubscribedPayload": "$ref:$.channels.websocket.messages.unsubscribed.payload",
      "PongPayload": "$ref:$.channels.websocket.messages.pong.payload",
      "ErrorPayload": "$ref:$.channels.websocket.messages.error.payload",
      "AuthenticatedPayload": "$ref:$.channels.websocket.messages.authenticated.payload",
      "ReplayedPayload": "$ref:$.channels.websocket.messages.replayed.payload",
      "StreamStatusPayload": "$ref:$.channels.websocket.messages.stream_status.payload",
      "DeliveryStatusPayload": "$ref:$.channels.websocket.messages.delivery_status.payload",
      "StateStatusPayload": "$ref:$.channels.websocket.messages.state_status.payload",
      "ShutdownNoticePayload": "$ref:$.channels.websocket.messages.shutdown_notice.payload",
      "OrderBookSnapshotPayload": "$ref:$.channels.websocket.messages.order_book_snapshot.payload",
      "OrderBookUpdatePayload": "$ref:$.channels.websocket.messages.order_book_update.payload",
      "PortfolioUpdatePayload": "$ref:$.channels.websocket.messages.portfolio_update.payload",
      "PriceUpdatePayload": "$ref:$.channels.websocket.messages.price_update.payload",
      "SignalPayload": "$ref:$.channels.websocket.messages.signal.payload",
      "TradeExecutedPayload": "$ref:$.channels.websocket.messages.trade_executed.payload",
      "NatsOrderBooksPayload": "$ref:$.channels.nats_order_books.messages.nats_order_books.payload",
      "NatsPortfolioPayload": "$ref:$.channels.nats_portfolio.messages.nats_portfolio.payload",
      "NatsPriceUpdatesPayload": "$ref:$.channels.nats_price_updates.messages.nats_price_updates.payload",
      "NatsSignalsPayload": "$ref:$.channels.nats_signals.messages.nats_signals.payload",
      "NatsTradesPayload": "$ref:$.channels.nats_trades.messages.nats_trades.payload"
    },
    "messages": {
      "ping": "$ref:$.channels.websocket.messages.ping",
      "subscribe": "$ref:$.channels.websocket.messages.subscribe",
      "unsubscribe": "$ref:$.channels.websocket.messages.unsubscribe",
      "auth": "$ref:$.channels.websocket.messages.auth",
      "welcome": "$ref:$.channels.websocket.messages.welcome",
      "subscribed": "$ref:$.channels.websocket.messages.subscribed",
      "unsubscribed": "$ref:$.channels.websocket.messages.unsubscribed",
      "pong": "$ref:$.channels.websocket.messages.pong",
      "error": "$ref:$.channels.websocket.messages.error",
      "authenticated": "$ref:$.channels.websocket.messages.authenticated",
      "replayed": "$ref:$.channels.websocket.messages.replayed",
      "stream_status": "$ref:$.channels.websocket.messages.stream_status",
      "delivery_status": "$ref:$.channels.websocket.messages.delivery_status",
      "state_status": "$ref:$.channels.websocket.messages.state_status",
      "shutdown_notice": "$ref:$.channels.websocket.messages.shutdown_notice",
      "order_book_snapshot": "$ref:$.channels.websocket.messages.order_book_snapshot",
      "order_book_update": "$ref:$.channels.websocket.messages.order_book_update",
      "portfolio_update": "$ref:$.channels.websocket.messages.portfolio_update",
      "price_update": "$ref:$.channels.websocket.messages.price_update",
      "signal": "$ref:$.channels.websocket.messages.signal",
      "trade_executed": "$ref:$.channels.websocket.messages.trade_executed",
      "nats_order_books": "$ref:$.channels.nats_order_books.messages.nats_order_books",
      "nats_portfolio": "$ref:$.channels.nats_portfolio.messages.nats_portfolio",
      "nats_price_updates": "$ref:$.channels.nats_price_updates.messages.nats_price_updates",
      "nats_signals": "$ref:$.channels.nats_signals.messages.nats_signals",
      "nats_trades": "$ref:$.channels.nats_trades.messages.nats_trades"
    }
  },
  "x-parser-spec-parsed": true,
  "x-parser-api-version": 3,
  "x-parser-spec-stringified": true
};
    const config = {"show":{"sidebar":true},"sidebar":{"showOperations":"byDefault"}};
    const appRoot = document.getElementById('root');
    AsyncApiStandalone.render(
        { schema, config, }, appRoot
    );
  