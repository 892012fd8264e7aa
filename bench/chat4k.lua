-- wrk script: a ~4 KB OpenAI chat completion request (non-streaming) with English meeting notes
-- to summarise (bench/prompt4k.txt as the user message, or the file in $BENCH_PROMPT). bench/run.sh
-- builds the same body with jq (and checks it against the filter rules) and passes it in
-- $BENCH_BODY (a file holding the whole body); $BENCH_XMOCK, if set, is sent as the X-Mock header
-- (the mock's script, e.g. a short answer text). Paths are relative to the repository root.
local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end
local function json_string(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == "\n" then return "\\n" end
    if c == '"' or c == "\\" then return "\\" .. c end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
if os.getenv("BENCH_XMOCK") then wrk.headers["X-Mock"] = os.getenv("BENCH_XMOCK") end
if os.getenv("BENCH_BODY") then
  wrk.body = slurp(os.getenv("BENCH_BODY"))
else
  wrk.body = '{"model":"gpt-4o-mini","messages":[' ..
             '{"role":"system","content":"You are a concise assistant for an operations team."},' ..
             '{"role":"user","content":' .. json_string(slurp(os.getenv("BENCH_PROMPT") or "bench/prompt4k.txt")) ..
             '}],"max_tokens":400}'
end
