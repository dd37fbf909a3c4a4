-- wrk script: POST a valid login over and over.
wrk.method = "POST"
wrk.body = '{"email":"bench@example.com","password":"kf-load-secret-2718"}'
wrk.headers["Content-Type"] = "application/json"

local non_200 = 0
response = function(status, headers, body)
  if status ~= 200 then non_200 = non_200 + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms requests=%d errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
