-- wrk script: POST the photo in $PHOTO as the raw body of /api/v1/identify.
local f = assert(io.open(os.getenv("PHOTO"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"

-- Count answers by status so designed 503s are told apart from errors.
local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("p50_ms %.2f p90_ms %.2f p99_ms %.2f\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
