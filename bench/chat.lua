-- wrk script: a ~1 KB OpenAI chat completion request (non-streaming), same for every target.
local filler = string.rep("Summarise the quarterly report for the board in plain words. ", 14)
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},' ..
           '{"role":"user","content":"' .. filler .. '"}],"max_tokens":64}'
