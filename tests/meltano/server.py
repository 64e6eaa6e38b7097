"""An issue list that answers `since` for `make test-meltano`.

GET /issues?since=RFC3339 -> a bare JSON array of the issues updated at or
after `since` (all of them without it), oldest first. The data has two
generations: the second (after the file named by argv[2] exists) moves
three issues' `updated_at` an hour later, as if they had changed. Writes
its port to argv[1] and serves until killed.
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

CHANGED = {5, 12, 20}


def issues(second):
    out = []
    for n in range(1, 31):
        minute = n
        updated = f"2026-11-01T08:{minute:02d}:00Z"
        if second and n in CHANGED:
            updated = f"2026-11-01T09:{minute:02d}:00Z"
        out.append({"id": 1000 + n, "number": n, "title": f"Issue {n}",
                    "labels": [{"name": "bug"}] if n % 3 == 0 else [],
                    "updated_at": updated})
    return sorted(out, key=lambda i: i["updated_at"])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/issues":
            self.send_error(404)
            return
        since = parse_qs(url.query).get("since", [""])[0]
        second = os.path.exists(sys.argv[2])
        body = [i for i in issues(second) if i["updated_at"] >= since]
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
