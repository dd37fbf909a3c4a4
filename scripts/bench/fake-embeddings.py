#!/usr/bin/env python3
"""An instant OpenAI-compatible /v1/embeddings endpoint for benchmarks.

It answers every input with a deterministic pseudo-random unit vector
(sha256 of the text seeds it), so Kefu's semantic path — the HTTP round
trip, the vectors in the database and in memory, the cosine search — is
measured without a model's own time. It is not a model: rankings it
produces mean nothing. Real wire format: `{"object":"list","data":[{"object":
"embedding","index":i,"embedding":[…]}],"model":…,"usage":{…}}`.

    scripts/bench/fake-embeddings.py PORT [DIMENSIONS]
"""
import hashlib
import json
import random
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


DIM = int(sys.argv[2]) if len(sys.argv) > 2 else 384


def vector(text):
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    v = [rng.uniform(-1.0, 1.0) for _ in range(DIM)]
    norm = sum(x * x for x in v) ** 0.5 or 1.0
    return [round(x / norm, 6) for x in v]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on,
    # a kept-alive client's delayed ACK then stalls every response by ~40 ms
    # (which an earlier run of this benchmark measured instead of Kefu).
    disable_nagle_algorithm = True

    def do_POST(self):
        if self.path.rstrip("/") != "/v1/embeddings":
            return self.reply(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        data = [{"object": "embedding", "index": i, "embedding": vector(t)} for i, t in enumerate(inputs)]
        tokens = sum(len(t) for t in inputs)
        self.reply(200, {"object": "list", "data": data, "model": body.get("model", ""),
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def reply(self, status, payload):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
